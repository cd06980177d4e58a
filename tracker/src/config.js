// Settings come from the <script> tag's data attributes (see docs/tracker.md).
export function readConfig() {
  const s = document.currentScript || document.querySelector('script[data-key]')
  const attr = (name) => (s && s.getAttribute('data-' + name)) || ''
  const origin = s && s.src ? new URL(s.src, location.href).origin : location.origin
  const heartbeatS = +attr('heartbeat')
  return {
    key: attr('key'),
    api: (attr('api') || origin).replace(/\/+$/, ''),
    consentRequired: attr('consent') == 'required',
    cookieless: attr('storage') == 'none',
    autocapture: attr('autocapture') != 'false',
    spa: attr('spa') != 'false',
    heartbeatMs: heartbeatS > 0 ? Math.max(heartbeatS, 5) * 1000 : 0,
  }
}
