// The core under a strict Content Security Policy, on the page's main thread: decode -> passes -> encode of the
// model named in ?model=, for ?target= (the CLI's default: cpu), with the SHA-256 of the bytes written, for a test
// to compare with the CLI's output. It also reports whether code generation from strings is refused, so a test
// knows the policy is in force.
import { findTarget, planForTarget, planPasses } from '../passes/targets.js';
import { runPasses } from '../src/pipeline.js';
import { decodeModel } from '../src/serde/decode.js';
import { encodeModel } from '../src/serde/encode.js';

interface CspCheck {
  evalRefused: boolean;
  /** The directives the browser reported as violated (securitypolicyviolation events). */
  violations: string[];
  sha256?: string;
  bytes?: number;
  error?: string;
}

function evalRefused(): boolean {
  try {
    new Function('return 1')();
    return false;
  } catch {
    return true;
  }
}

async function check(): Promise<CspCheck> {
  const params = new URLSearchParams(location.search);
  const input = new Uint8Array(await (await fetch(params.get('model')!)).arrayBuffer());
  const plan = planForTarget((params.get('passes') ?? 'fuse').split(','), findTarget(params.get('target') ?? 'cpu'));
  const model = decodeModel(input);
  runPasses(model, planPasses(plan));
  const output = encodeModel(model);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', output as Uint8Array<ArrayBuffer>));
  return {
    evalRefused: evalRefused(),
    violations,
    sha256: [...digest].map((b) => b.toString(16).padStart(2, '0')).join(''),
    bytes: output.byteLength,
  };
}

const violations: string[] = [];
document.addEventListener('securitypolicyviolation', (e) => violations.push(`${e.effectiveDirective} ${e.blockedURI}`));
const out = document.getElementById('out')!;
check()
  .catch((e: unknown): CspCheck => ({
    evalRefused: evalRefused(),
    violations,
    error: (e as Error).message ?? String(e),
  }))
  // violation events are dispatched asynchronously
  .then((result) => new Promise<CspCheck>((done) => setTimeout(() => done(result), 50)))
  .then((result) => {
    out.textContent = JSON.stringify(result);
    document.body.dataset.state = 'done';
  });
