// Verifies account tokens with the README's jose module (account_token.mjs, which run.sh
// extracts from README.md) for check.py, over standard input and output, one JSON object a line:
//
//   {"create": NAME, "accountd": URL, "algorithm": "EdDSA", "storeId": …, "realmId": …}
//       → {"ok": true}: a verifier as a service would make one, kept under NAME;
//   {"verify": NAME, "token": …}
//       → {"ok": true, "identity": {…}} or {"ok": false, "code": jose's error code, "message": …}.
//
// Verifiers live as long as this process, so their cached JWK Sets do too: check.py uses one
// across a key rotation to see it refetch the set for a new kid. It exits when its input ends.
import { createInterface } from "node:readline";

import { accountTokenVerifier } from "./account_token.mjs";

const verifiers = new Map();

async function answer(request) {
  if (request.create) {
    const { accountd, algorithm, storeId, realmId } = request;
    verifiers.set(request.create, accountTokenVerifier({ accountd, algorithm, storeId, realmId }));
    return { ok: true };
  }
  const verify = verifiers.get(request.verify);
  if (!verify) {
    return { ok: false, code: "NO_SUCH_VERIFIER", message: String(request.verify) };
  }
  try {
    const identity = await verify(request.token);
    return { ok: true, identity: { ...identity, expires: identity.expires.toISOString() } };
  } catch (error) {
    return { ok: false, code: error.code ?? error.name, message: error.message };
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim()) {
    process.stdout.write(`${JSON.stringify(await answer(JSON.parse(line)))}\n`);
  }
}
