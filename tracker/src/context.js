// The Segment `context` object sent with every message.
import { VERSION } from './version.js'

const UTM = { campaign: 'name', source: 'source', medium: 'medium', term: 'term', content: 'content' }
let campaign
let referrer = document.referrer

// UTM parameters of the landing URL, kept for the life of the page (SPA routes drop them).
export function captureCampaign() {
  const params = new URLSearchParams(location.search)
  const found = {}
  for (const k in UTM) {
    const v = params.get('utm_' + k)
    if (v) found[UTM[k]] = v
  }
  campaign = Object.keys(found).length ? found : undefined
}

// The referrer of the current pageview: document.referrer, then the previous URL after SPA routes.
export function setReferrer(url) {
  referrer = url
}

export function livePage() {
  return { url: location.href, path: location.pathname, referrer, title: document.title, search: location.search }
}

export function buildContext(page, extra) {
  let timezone
  try { timezone = Intl.DateTimeFormat().resolvedOptions().timeZone } catch (e) { /* old engine */ }
  return Object.assign({
    library: { name: 'haina.js', version: VERSION },
    page,
    userAgent: navigator.userAgent,
    locale: navigator.language,
    timezone,
    screen: { width: screen.width, height: screen.height, density: devicePixelRatio },
    campaign,
  }, extra)
}
