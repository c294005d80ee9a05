// DPoP proofs (RFC 9449) from an implementation we did not write: panva's `dpop` package (pinned
// in package.json / package-lock.json), for the interop tests of `tollgate serve`
// (crates/tollgate-cli/tests/dpop_interop.rs).
//
//   node dpop-proof.mjs [--key FILE] [--alg ES256|RS256|PS256|Ed25519] <htm> <htu> [token|-] [nonce]
//
// Prints one JSON line: {"proof": "<the DPoP header value>", "jwk": <the public JWK>,
// "jkt": "<its RFC 7638 thumbprint, computed by the dpop package>", "alg": "<the proof's alg>"}.
// With a token (not `-`), the proof carries `ath` (the token's SHA-256); with a nonce, `nonce`.
//
// --key FILE keeps the key pair across runs (a token is bound to the key before the proofs that
// present it are made): the private JWK is read from FILE, or generated and written there (mode
// 0600) when FILE does not exist. Without --key every run uses a fresh key pair. The default
// algorithm is ES256 (with --key, the one the stored key was made for).

import { existsSync, readFileSync, writeFileSync } from 'node:fs';

import { calculateThumbprint, generateKeyPair, generateProof } from 'dpop';

const USAGE = 'usage: node dpop-proof.mjs [--key FILE] [--alg ES256|RS256|PS256|Ed25519] <htm> <htu> [token|-] [nonce]';

/** WebCrypto import parameters for each JWS algorithm the dpop package signs with. */
const IMPORT = {
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  PS256: { name: 'RSA-PSS', hash: 'SHA-256' },
  Ed25519: { name: 'Ed25519' },
};

function fail(message) {
  console.error(`dpop-proof.mjs: ${message}`);
  process.exit(2);
}

const positional = [];
let keyFile;
let alg;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i += 1) {
  if (args[i] === '--key') {
    keyFile = args[i += 1];
  } else if (args[i] === '--alg') {
    alg = args[i += 1];
  } else {
    positional.push(args[i]);
  }
}
const [htm, htu, token, nonce] = positional;
if (!htm || !htu || positional.length > 4 || (keyFile === undefined && args.includes('--key'))) {
  fail(USAGE);
}
if (alg !== undefined && !(alg in IMPORT)) {
  fail(`unsupported --alg ${JSON.stringify(alg)}; ${USAGE}`);
}

/** The key pair: from `keyFile` when it exists, else generated (and stored when asked). */
async function keyPair() {
  if (keyFile !== undefined && existsSync(keyFile)) {
    const stored = JSON.parse(readFileSync(keyFile, 'utf8'));
    const params = IMPORT[stored.alg];
    if (!params) {
      fail(`${keyFile}: no supported "alg" in the stored key`);
    }
    if (alg !== undefined && alg !== stored.alg) {
      fail(`${keyFile} holds a ${stored.alg} key, not ${alg}`);
    }
    // The public half: without the private members, and without `key_ops` (it says `sign`).
    const { d, p, q, dp, dq, qi, key_ops: ops, ext, ...publicMembers } = stored.jwk;
    const privateKey = await crypto.subtle.importKey('jwk', stored.jwk, params, false, ['sign']);
    const publicKey = await crypto.subtle.importKey('jwk', publicMembers, params, true, ['verify']);
    return { privateKey, publicKey };
  }
  const chosen = alg ?? 'ES256';
  const pair = await generateKeyPair(chosen, { extractable: true });
  if (keyFile !== undefined) {
    const jwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
    writeFileSync(keyFile, JSON.stringify({ alg: chosen, jwk }), { mode: 0o600 });
  }
  return pair;
}

const pair = await keyPair();
const accessToken = token === undefined || token === '-' ? undefined : token;
const proof = await generateProof(pair, htu, htm, nonce, accessToken);
const { kty, crv, e, n, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey);
const jwk = Object.fromEntries(Object.entries({ kty, crv, e, n, x, y }).filter(([, v]) => v !== undefined));
const header = JSON.parse(Buffer.from(proof.split('.')[0], 'base64url').toString('utf8'));
process.stdout.write(`${JSON.stringify({
  proof, jwk, jkt: await calculateThumbprint(pair.publicKey), alg: header.alg,
})}\n`);
