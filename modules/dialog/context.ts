// Which earlier messages go to the model with a new question: the newest ones that fit the token
// budget (DIALOG_CONTEXT_TOKENS), oldest first. Tokens are estimated (≈ 4 characters each, plus
// a few per message), which is what matters for a budget: no tokenizer per provider.
export interface ContextMessage {
  readonly role: 'user' | 'assistant';
  readonly content: string;
}

export const estimateTokens = (text: string): number => Math.ceil(text.length / 4) + 4;

/** `history` oldest first, without the new question; returns the tail that fits next to it. */
export function contextWithinBudget(
  history: readonly ContextMessage[],
  question: string,
  budgetTokens: number,
): ContextMessage[] {
  let remaining = budgetTokens - estimateTokens(question);
  const kept: ContextMessage[] = [];
  for (let i = history.length - 1; i >= 0 && remaining > 0; i--) {
    const message = history[i]!;
    const cost = estimateTokens(message.content);
    if (cost > remaining) break;
    kept.push(message);
    remaining -= cost;
  }
  return kept.reverse();
}
