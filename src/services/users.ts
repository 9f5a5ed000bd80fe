import { hash, verify } from '@node-rs/argon2';
import { z } from 'zod';
import type { EngineContext } from '../engine/context.js';
import { nowSeconds } from '../engine/context.js';
import type { UserRecord } from '../store/types.js';
import { newHandle } from '../tokens/handles.js';

/** argon2id with OWASP's recommended baseline (19 MiB, t=2, p=1). */
const ARGON2 = { algorithm: 2 as const, memoryCost: 19456, timeCost: 2, parallelism: 1 };

export const hashPassword = (password: string) => hash(password, ARGON2);
export const verifyPassword = async (stored: string, password: string) => {
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
};

/** A hash of a random password, verified against when the username is unknown so timing does not tell. */
let dummyHash: Promise<string> | undefined;
export const dummyPasswordHash = () => (dummyHash ??= hashPassword(newHandle((n) => Buffer.alloc(n, 7))));

const addressSchema = z.object({
  formatted: z.string().optional(), street_address: z.string().optional(), locality: z.string().optional(),
  region: z.string().optional(), postal_code: z.string().optional(), country: z.string().optional(),
}).strict();

/** OIDC Core §5.1 standard claims a user may carry. */
export const claimsSchema = z.object({
  name: z.string().optional(), given_name: z.string().optional(), family_name: z.string().optional(),
  middle_name: z.string().optional(), nickname: z.string().optional(), preferred_username: z.string().optional(),
  profile: z.string().url().optional(), picture: z.string().url().optional(), website: z.string().url().optional(),
  email: z.string().email().optional(), email_verified: z.boolean().optional(), gender: z.string().optional(),
  birthdate: z.string().regex(/^(\d{4}|\d{4}-\d{2}-\d{2}|0000-\d{2}-\d{2})$/).optional(), zoneinfo: z.string().optional(),
  locale: z.string().optional(), phone_number: z.string().optional(), phone_number_verified: z.boolean().optional(),
  address: addressSchema.optional(), updated_at: z.number().int().optional(),
}).strict();

export class UserInputError extends Error {}

export async function createUser(
  ctx: EngineContext,
  input: { username: string; password: string; claims?: unknown; id?: string },
): Promise<UserRecord> {
  if (!/^[^\s\x00-\x1f]{1,100}$/.test(input.username)) throw new UserInputError('username must be 1-100 characters without spaces');
  if (input.password.length < 8 || input.password.length > 1024) throw new UserInputError('password must be 8-1024 characters');
  const parsed = claimsSchema.safeParse(input.claims ?? {});
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new UserInputError(`claims.${i.path.join('.') || ''}: ${i.message}`);
  }
  if (await ctx.store.findUserByUsername(ctx.tenant.id, input.username)) throw new UserInputError(`user ${input.username} already exists`);
  const user: UserRecord = {
    tenantId: ctx.tenant.id,
    id: input.id ?? newHandle(ctx.random, 16),
    username: input.username,
    passwordHash: await hashPassword(input.password),
    claims: { preferred_username: input.username, ...parsed.data },
    disabled: false,
    createdAt: nowSeconds(ctx),
  };
  await ctx.store.createUser(user);
  return user;
}
