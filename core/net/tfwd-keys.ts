/**
 * TFWD keys from options (source-forwarded, the forwarder agent): `keys` ({"<id>": "<secret>"}) and/or `keyFile` (a JSON file of the same
 * shape, so secrets can stay out of the main config). A secret is "hex:…", "base64:…", or else its UTF-8 bytes.
 */
import * as fs from 'node:fs';
import { TfwdKey, TFWD_MIN_KEY_BYTES } from './tfwd';

/** Bytes of one secret as written in the options. */
export function secretBytes(text: string): Buffer {
  if (text.startsWith('hex:')) {
    const hex = text.slice(4);
    if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw new RangeError('a "hex:" secret must be an even number of hex digits');
    return Buffer.from(hex, 'hex');
  }
  if (text.startsWith('base64:')) {
    const b64 = text.slice(7);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new RangeError('a "base64:" secret must be base64');
    return Buffer.from(b64, 'base64');
  }
  return Buffer.from(text, 'utf8');
}

/** Keys from an id → secret object; throws a RangeError naming the bad entry. */
export function keysFromObject(obj: Readonly<Record<string, unknown>>, where: string): TfwdKey[] {
  const out: TfwdKey[] = [];
  for (const [id, secret] of Object.entries(obj)) {
    if (!/^\d+$/.test(id) || Number(id) > 0xffff) throw new RangeError(`${where}: key id "${id}" is not an integer 0..65535`);
    if (typeof secret !== 'string') throw new RangeError(`${where}: the secret of key ${id} is not a string`);
    let bytes: Buffer;
    try {
      bytes = secretBytes(secret);
    } catch (e) {
      throw new RangeError(`${where}: key ${id}: ${(e as Error).message}`);
    }
    if (bytes.length < TFWD_MIN_KEY_BYTES) throw new RangeError(`${where}: key ${id} has ${bytes.length} bytes; at least ${TFWD_MIN_KEY_BYTES} are needed`);
    out.push(new TfwdKey(Number(id), bytes));
  }
  return out;
}

/** Keys of a key file (JSON object id → secret). */
export function keysFromFile(file: string): TfwdKey[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new RangeError(`key file ${file} cannot be read: ${(e as Error).message}`);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new RangeError(`key file ${file} is not JSON: ${(e as Error).message}`);
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new RangeError(`key file ${file} must hold a JSON object of key id → secret`);
  return keysFromObject(obj as Record<string, unknown>, `key file ${file}`);
}
