// $engagement: time the page was visible AND focused, and the deepest scroll, per pageview.
// Modelled on Plausible's engagement events: sent on hide, blur and before the next pageview,
// only if the scroll depth grew or 3 s of engagement built up; the counter restarts after each
// send, so the server sums them.
import { emit } from './tracker.js'

let pageview = null // {url, path, pageview_id, page}
let engagedMs = 0
let since = null // performance.now() when the current engaged stretch began
let maxBottomPx = 0
let sentDepth = -1

const engaged = () => document.visibilityState == 'visible' && document.hasFocus()

// Close the running stretch and open a new one if the page is still engaged.
function tick() {
  const now = performance.now()
  if (since != null) engagedMs += now - since
  since = engaged() ? now : null
}

function measureScroll() {
  maxBottomPx = Math.max(maxBottomPx, scrollY + innerHeight)
}

function scrollDepth() {
  const el = document.documentElement
  const height = Math.max(el.scrollHeight, document.body ? document.body.scrollHeight : 0)
  return height ? Math.min(100, Math.round((maxBottomPx / height) * 100)) : 0
}

export function startEngagement(heartbeatMs) {
  tick()
  measureScroll()
  for (const type of ['focus', 'blur', 'pageshow']) addEventListener(type, tick)
  document.addEventListener('visibilitychange', tick)
  addEventListener('scroll', measureScroll, { passive: true })
  if (heartbeatMs) setInterval(() => engaged() && sendEngagement(), heartbeatMs)
}

// The first pageview keeps what was measured since the script started; later ones start afresh.
export function beginEngagement(pv, fresh) {
  pageview = pv
  if (!fresh) return
  engagedMs = 0
  maxBottomPx = 0
  sentDepth = -1
  tick()
  measureScroll()
}

export function sendEngagement() {
  if (!pageview) return
  tick()
  measureScroll()
  const depth = scrollDepth()
  if (depth <= sentDepth && engagedMs < 3000) return
  const { url, path, pageview_id, page } = pageview
  emit('track', {
    event: '$engagement',
    properties: { url, path, pageview_id, engaged_ms: Math.round(engagedMs), scroll_depth: depth },
  }, page)
  engagedMs = 0
  sentDepth = depth
}
