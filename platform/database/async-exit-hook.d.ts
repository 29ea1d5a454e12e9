// Just what platform/database/embedded.ts uses of async-exit-hook (the package ships no types).
declare module 'async-exit-hook' {
  interface AsyncExitHook {
    unhookEvent(event: string): void;
  }
  const asyncExitHook: AsyncExitHook;
  export default asyncExitHook;
}
