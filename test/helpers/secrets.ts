// The key-encryption key tests pass wherever LATCHKEY_DATABASE_URL is set: a scale-out start refuses
// to run without one (every instance must share it). Fixed so that every instance of a test
// fleet, and the CLI beside it, can open the same keys; never a production value.
export const TEST_SECRETS_KEY = Buffer.alloc(32, 0x5a).toString('base64url');
