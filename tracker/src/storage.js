// Everything the tracker keeps on the device goes through here: first-party cookies, and
// localStorage where cookies are refused. Callers decide whether storing is allowed.
const YEAR_S = 31536000

function attrs(maxAge) {
  return ';max-age=' + maxAge + ';path=/;samesite=lax' + (location.protocol == 'https:' ? ';secure' : '')
}

export function getCookie(name) {
  const m = document.cookie.match('(?:^|;)\\s*' + name + '=([^;]*)')
  return m ? decodeURIComponent(m[1]) : null
}

export function setCookie(name, value) {
  document.cookie = name + '=' + encodeURIComponent(value) + attrs(YEAR_S)
}

export function lsGet(key) {
  try { return localStorage.getItem(key) } catch (e) { return null }
}

export function lsSet(key, value) {
  try { localStorage.setItem(key, value) } catch (e) { /* full or disabled: memory only */ }
}

export function lsDel(key) {
  try { localStorage.removeItem(key) } catch (e) { /* disabled */ }
}

export function lsKeys(prefix) {
  try { return Object.keys(localStorage).filter((k) => k.indexOf(prefix) == 0) } catch (e) { return [] }
}

// An identifier: a cookie, or localStorage when the browser refuses the cookie.
export function readId(name) {
  return getCookie(name) || lsGet(name)
}

export function writeId(name, value) {
  setCookie(name, value)
  if (getCookie(name) != value) lsSet(name, value)
}

export function forgetId(name) {
  document.cookie = name + '=' + attrs(0)
  lsDel(name)
}
