/** HMAC-SHA256 for the deployed-state record's signature (the rules are in `domain/state-record.ts`). */
import { createHmac } from 'node:crypto';
import type { StateMac } from '../../domain/index.ts';

/** HMAC-SHA256 of the UTF-8 `message` under `key`. */
export const hmacSha256: StateMac = (key, message) => new Uint8Array(createHmac('sha256', key).update(message, 'utf8').digest());
