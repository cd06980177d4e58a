// The visitor's consent, kept in the cookie haina_consent as "a1m0p1"
// (analytics, marketing, personalisation).
import { getCookie, setCookie } from './storage.js'

const COOKIE = 'haina_consent'
const PURPOSES = ['analytics', 'marketing', 'personalisation']

export function readConsent() {
  const v = getCookie(COOKIE)
  if (!v || !/^a[01]m[01]p[01]$/.test(v)) return null
  return { analytics: v[1] == '1', marketing: v[3] == '1', personalisation: v[5] == '1' }
}

export function writeConsent(c) {
  setCookie(COOKIE, 'a' + +c.analytics + 'm' + +c.marketing + 'p' + +c.personalisation)
}

// Purposes left out of a call keep their previous value, or false.
export function mergeConsent(input, prev) {
  const out = {}
  for (const p of PURPOSES) out[p] = !!(input && p in input ? input[p] : prev && prev[p])
  return out
}

export function sameConsent(a, b) {
  return !!a && !!b && PURPOSES.every((p) => a[p] == b[p])
}
