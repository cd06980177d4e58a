// Pageviews: the first one once `load` has finished (so Navigation Timing is complete), then
// one per SPA route change; a route change that leaves the URL as it was sends nothing.
import { livePage, setReferrer } from './context.js'
import { beginEngagement, sendEngagement } from './engagement.js'
import { emit } from './tracker.js'
import { uuid } from './uuid.js'

let firstPending = true
let lastUrl = null

function timings() {
  const nav = performance.getEntriesByType && performance.getEntriesByType('navigation')[0]
  if (!nav) return {}
  const ms = (v) => (v > 0 ? Math.round(v) : undefined)
  return {
    perf_ttfb_ms: ms(nav.responseStart),
    perf_dom_content_loaded_ms: ms(nav.domContentLoadedEventEnd),
    perf_load_ms: ms(nav.loadEventEnd),
  }
}

export function pageview(name, properties, withTimings) {
  const first = lastUrl == null
  firstPending = false
  if (!first) sendEngagement()
  if (!first && lastUrl && lastUrl != location.href) setReferrer(lastUrl)
  const page = livePage()
  const id = uuid()
  const props = Object.assign(
    { url: page.url, path: page.path, referrer: page.referrer, title: page.title, search: page.search, hash: location.hash, pageview_id: id },
    withTimings ? timings() : {},
    properties,
  )
  emit('page', { name: name || document.title, properties: props }, page)
  lastUrl = location.href
  beginEngagement({ url: page.url, path: page.path, pageview_id: id, page }, !first)
}

// Before `load`, a page that is being left still gets its pageview, without timings.
export function sendFirstPageview(withTimings) {
  if (firstPending) pageview(null, null, withTimings)
}

function routeChanged() {
  // Deferred so that the router has a chance to set the new title.
  setTimeout(() => { if (!firstPending && location.href != lastUrl) pageview() }, 0)
}

export function startPageviews(spa) {
  const afterLoad = () => setTimeout(() => sendFirstPageview(true), 0) // loadEventEnd is set after the handlers
  if (document.readyState == 'complete') afterLoad()
  else addEventListener('load', afterLoad)
  addEventListener('pageshow', (e) => { if (e.persisted) { lastUrl = ''; routeChanged() } }) // back/forward cache
  if (!spa) return
  for (const method of ['pushState', 'replaceState']) {
    const original = history[method]
    history[method] = function () {
      const result = original.apply(this, arguments)
      routeChanged()
      return result
    }
  }
  addEventListener('popstate', routeChanged)
  addEventListener('hashchange', routeChanged)
}
