/**
 * Weight sync between `maxent train` and a `maxent serve --accept-weights` sampler: TRL sends vLLM the new policy
 * after every optimiser step so that candidates stay on-policy; maxent does the same over HTTP. One tensor per
 * request (`PUT /maxent/weights/<hf-name>`, raw little-endian float32 body, `X-Shape: d0,d1`), so neither side holds
 * more than one extra tensor; `GET /maxent/weights` says whether a server takes them.
 */
import { MaxentError } from "../errors.ts";
import type { HostTensor } from "../model/safetensors.ts";

/** Path prefix of the weight endpoint. */
export const WEIGHTS_PATH = "/maxent/weights";

/** The server origin of a sampler URL (`http://host:8000/v1/completions` → `http://host:8000`). */
function origin(url: string): string {
  return new URL(url).origin;
}

function authHeaders(apiKey?: string): Record<string, string> {
  return apiKey ? { authorization: `Bearer ${apiKey}` } : {};
}

/** Whether the server at `url` takes weight updates (a `maxent serve --accept-weights`). Never throws. */
export async function serverAcceptsWeights(url: string, opts: { apiKey?: string; timeoutMs?: number } = {}) {
  try {
    const r = await fetch(origin(url) + WEIGHTS_PATH, {
      headers: authHeaders(opts.apiKey),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
    });
    if (!r.ok) {
      await r.body?.cancel();
      return false;
    }
    const j = await r.json();
    return j?.accepts === true;
  } catch {
    return false;
  }
}

/** Sends `tensors` (Hugging Face names and layout) to the server at `url`; returns how many and their bytes. */
export async function pushWeights(
  url: string,
  tensors: Iterable<[string, HostTensor]> | AsyncIterable<[string, HostTensor]>,
  opts: { apiKey?: string; timeoutMs?: number } = {},
): Promise<{ tensors: number; bytes: number }> {
  let n = 0, bytes = 0;
  for await (const [name, t] of tensors) {
    const body = new Uint8Array(t.data.buffer as ArrayBuffer, t.data.byteOffset, t.data.byteLength);
    const r = await fetch(`${origin(url)}${WEIGHTS_PATH}/${encodeURIComponent(name)}`, {
      method: "PUT",
      headers: {
        "content-type": "application/octet-stream",
        "x-shape": t.shape.join(","),
        ...authHeaders(opts.apiKey),
      },
      body,
      signal: AbortSignal.timeout(opts.timeoutMs ?? 300_000),
    });
    if (!r.ok) {
      const text = await r.text();
      throw new MaxentError(`weight sync: ${url} refused tensor "${name}" (HTTP ${r.status}): ${text.slice(0, 300)}`);
    }
    await r.body?.cancel();
    n++;
    bytes += body.byteLength;
  }
  return { tensors: n, bytes };
}

/**
 * The server side: answers `GET /maxent/weights` and `PUT /maxent/weights/<name>` by calling `apply` (which throws
 * on an unknown name or a wrong shape); null for other paths. Little-endian hosts only (as the float32 arrays).
 */
export async function weightRoute(
  req: Request,
  apply: ((name: string, t: HostTensor) => void) | undefined,
): Promise<Response | null> {
  const path = new URL(req.url).pathname;
  if (path !== WEIGHTS_PATH && !path.startsWith(WEIGHTS_PATH + "/")) return null;
  if (req.method === "GET" && path === WEIGHTS_PATH) return Response.json({ accepts: apply !== undefined });
  const fail = (status: number, message: string) => Response.json({ error: { message } }, { status });
  if (!apply) return fail(403, "this server does not take weights (start it with --accept-weights)");
  if (req.method !== "PUT" || path === WEIGHTS_PATH) return fail(405, `use PUT ${WEIGHTS_PATH}/<tensor name>`);
  const name = decodeURIComponent(path.slice(WEIGHTS_PATH.length + 1));
  const shape = (req.headers.get("x-shape") ?? "").split(",").map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) return fail(400, "X-Shape must be comma-separated sizes");
  const bytes = new Uint8Array(await req.arrayBuffer());
  const size = shape.reduce((a, b) => a * b, 1);
  if (bytes.byteLength !== size * 4) {
    return fail(400, `body has ${bytes.byteLength} bytes; shape [${shape}] of float32 needs ${size * 4}`);
  }
  try {
    apply(name, { shape, data: new Float32Array(bytes.buffer, bytes.byteOffset, size) });
  } catch (e) {
    return fail(400, (e as Error).message);
  }
  return Response.json({ name, shape });
}
