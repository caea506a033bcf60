// Receives a model's bytes from Python (toymae/app/reconstruct_browser.py model_bytes) and hands them
// to the panels component (panels.js) through a page-wide registry keyed by the model's id. A
// component of its own, so the ~1 MB of weights is sent once per model, not with every edit's rerun.
export default function ({ data }) {
  const registry = (globalThis.__toymaeModelBytes ??= { bytes: new Map(), listeners: new Set() });
  if (!(data instanceof Uint8Array) || data.byteLength < 4) return;
  const n = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0, true);
  const id = JSON.parse(new TextDecoder().decode(data.subarray(4, 4 + n))).id;
  if (!registry.bytes.has(id)) registry.bytes.set(id, data.slice()); // a copy: the message buffer is reused
  while (registry.bytes.size > 4) registry.bytes.delete(registry.bytes.keys().next().value);
  for (const listener of [...registry.listeners]) listener(id);
}
