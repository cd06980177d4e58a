// A v4 UUID. crypto.randomUUID exists only in secure contexts (https, localhost), so plain-http
// sites fall back to getRandomValues, which exists everywhere.
export function uuid() {
  const c = self.crypto
  if (c && c.randomUUID) return c.randomUUID()
  const b = c.getRandomValues(new Uint8Array(16))
  b[6] = (b[6] & 15) | 64
  b[8] = (b[8] & 63) | 128
  let s = ''
  for (let i = 0; i < 16; i++) s += (i == 4 || i == 6 || i == 8 || i == 10 ? '-' : '') + (b[i] + 256).toString(16).slice(1)
  return s
}
