// Access tokens (JWT, HS256, key ring with `kid`), refresh tokens and API keys.
//
// Key ring: the first key of config.jwtKeys signs, every key verifies, so a new key is put first
// and the old one kept until the last token it signed has expired (ACCESS_TOKEN_TTL_SECONDS):
// rotation logs nobody out.
//
// Refresh tokens and API keys are opaque random secrets (32 bytes, base64url) with their
// aggregate id in front, so the stream is found from the token itself without a lookup table:
//   refresh token  vlr_<sessionId, 32 hex>_<secret>
//   API key        vlg_<keyId, 32 hex>_<secret>
// Only sha256Hex(whole token) is stored; comparisons are constant-time (digestsEqual).
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { JWTHeaderParameters } from 'jose';
import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Config } from '../../platform/config.ts';
import { sha256Hex } from './digest.ts';
import { roles } from './events.ts';
import type { Role } from './events.ts';

export { digestsEqual, sha256Hex } from './digest.ts';

// --- access tokens ----------------------------------------------------------------------------

export type AccessTokenConfig = Pick<Config, 'jwtKeys' | 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'ACCESS_TOKEN_TTL_SECONDS'>;

export interface AccessTokenClaims {
  readonly userId: string;
  readonly role: Role;
  /** The login session the token was issued for (lets a revoked session's tokens be refused). */
  readonly sessionId: string;
}

export interface VerifiedAccessToken extends AccessTokenClaims {
  readonly kid: string;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
}

export interface IssuedAccessToken {
  readonly token: string;
  /** Seconds, for the login/refresh answer's `expiresIn`. */
  readonly expiresIn: number;
  readonly expiresAt: Date;
}

export type TokenErrorCode = 'unauthenticated' | 'token_expired';

/** Any refused token. The message is for logs; clients get only the code. */
export class TokenError extends Error {
  override readonly name = 'TokenError';
  readonly code: TokenErrorCode;
  constructor(code: TokenErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

const algorithm = 'HS256';
/** Small allowance for clocks of several instances that disagree a little. */
const clockToleranceSeconds = 5;

const claimsSchema = z.object({
  sub: z.uuid(),
  sid: z.uuid(),
  role: z.enum(roles),
  iat: z.number().int(),
  exp: z.number().int(),
});

export interface AccessTokens {
  sign(claims: AccessTokenClaims, now?: Date): Promise<IssuedAccessToken>;
  /** Throws TokenError: token_expired when only the expiry is wrong, unauthenticated for everything else. */
  verify(token: string, now?: Date): Promise<VerifiedAccessToken>;
}

export function createAccessTokens(config: AccessTokenConfig): AccessTokens {
  if (config.jwtKeys.length === 0) throw new Error('access tokens need at least one signing key');
  const keys = new Map(config.jwtKeys.map((k) => [k.kid, new TextEncoder().encode(k.secret)] as const));
  const signingKid = config.jwtKeys[0]!.kid;
  const signingKey = keys.get(signingKid)!;
  const ttl = config.ACCESS_TOKEN_TTL_SECONDS;

  const keyFor = (header: JWTHeaderParameters): Uint8Array => {
    // jwtVerify's `algorithms` already refuses anything but HS256 (including "none").
    const key = header.kid === undefined ? undefined : keys.get(header.kid);
    if (!key) throw new TokenError('unauthenticated', 'unknown signing key');
    return key;
  };

  return {
    async sign(claims, now = new Date()) {
      const issuedAt = Math.floor(now.getTime() / 1000);
      const expiresAt = issuedAt + ttl;
      const token = await new SignJWT({ role: claims.role, sid: claims.sessionId })
        .setProtectedHeader({ alg: algorithm, kid: signingKid, typ: 'JWT' })
        .setSubject(claims.userId)
        .setIssuer(config.JWT_ISSUER)
        .setAudience(config.JWT_AUDIENCE)
        .setIssuedAt(issuedAt)
        .setExpirationTime(expiresAt)
        .setJti(randomUUID())
        .sign(signingKey);
      return { token, expiresIn: ttl, expiresAt: new Date(expiresAt * 1000) };
    },

    async verify(token, now = new Date()) {
      let result;
      try {
        result = await jwtVerify(token, keyFor, {
          algorithms: [algorithm],
          issuer: config.JWT_ISSUER,
          audience: config.JWT_AUDIENCE,
          typ: 'JWT',
          requiredClaims: ['sub', 'iat', 'exp'],
          currentDate: now,
          clockTolerance: clockToleranceSeconds,
        });
      } catch (error) {
        if (error instanceof TokenError) throw error;
        if (error instanceof joseErrors.JWTExpired) throw new TokenError('token_expired', 'token expired');
        const reason = error instanceof joseErrors.JOSEError ? error.code : 'malformed token';
        throw new TokenError('unauthenticated', `token refused: ${reason}`);
      }
      const claims = claimsSchema.safeParse(result.payload);
      if (!claims.success) throw new TokenError('unauthenticated', 'token refused: unexpected claims');
      const { sub, sid, role, iat, exp } = claims.data;
      return {
        userId: sub,
        sessionId: sid,
        role,
        kid: result.protectedHeader.kid!,
        issuedAt: new Date(iat * 1000),
        expiresAt: new Date(exp * 1000),
      };
    },
  };
}

// --- refresh tokens and API keys ----------------------------------------------------------

const secretBytes = 32;
const uuidToHex = (uuid: string) => uuid.replaceAll('-', '').toLowerCase();
const hexToUuid = (hex: string) =>
  `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
const newSecret = () => randomBytes(secretBytes).toString('base64url');

export const refreshTokenPrefix = 'vlr';
export const apiKeyPrefix = 'vlg';

const opaqueTokenPattern = (prefix: string) => new RegExp(`^${prefix}_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$`);
const refreshTokenPattern = opaqueTokenPattern(refreshTokenPrefix);
const apiKeyPattern = opaqueTokenPattern(apiKeyPrefix);

export interface GeneratedRefreshToken {
  /** Given to the client once; never stored, never logged. */
  readonly token: string;
  /** What SessionStarted / SessionRefreshed store. */
  readonly tokenHash: string;
}

export function generateRefreshToken(sessionId: string): GeneratedRefreshToken {
  const token = `${refreshTokenPrefix}_${uuidToHex(sessionId)}_${newSecret()}`;
  return { token, tokenHash: sha256Hex(token) };
}

/** The session a presented refresh token claims to belong to, or undefined when it is not one of ours. */
export function parseRefreshToken(token: string): { sessionId: string; tokenHash: string } | undefined {
  const m = refreshTokenPattern.exec(token);
  return m ? { sessionId: hexToUuid(m[1]!), tokenHash: sha256Hex(token) } : undefined;
}

export interface GeneratedApiKey {
  /** Shown to the user once, in the creation answer. */
  readonly key: string;
  /** Non-secret head (`vlg_<keyId hex>`) kept in ApiKeyCreated, to recognise the key in lists. */
  readonly prefix: string;
  /** What ApiKeyCreated stores: SHA-256 of the whole key. */
  readonly secretHash: string;
}

export function generateApiKey(keyId: string): GeneratedApiKey {
  const prefix = `${apiKeyPrefix}_${uuidToHex(keyId)}`;
  const key = `${prefix}_${newSecret()}`;
  return { key, prefix, secretHash: sha256Hex(key) };
}

export function parseApiKey(key: string): { keyId: string; keyHash: string } | undefined {
  const m = apiKeyPattern.exec(key);
  return m ? { keyId: hexToUuid(m[1]!), keyHash: sha256Hex(key) } : undefined;
}
