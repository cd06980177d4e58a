// Entry point: read the script tag, install window.haina, replay what the snippet queued,
// then start pageviews, engagement and autocapture.
import { startAutocapture } from './autocapture.js'
import { readConfig } from './config.js'
import { captureCampaign } from './context.js'
import { sendEngagement, startEngagement } from './engagement.js'
import { pageview, sendFirstPageview, startPageviews } from './pageview.js'
import { at, identify, initTracker, reset, setConsent, track } from './tracker.js'
import { flushOnExit } from './transport.js'
import { VERSION } from './version.js'

const api = {
  track,
  identify,
  page: (name, properties) => (name && typeof name == 'object' ? pageview(null, name) : pageview(name, properties)),
  reset,
  consent: setConsent,
  optOut: () => setConsent({ analytics: false, marketing: false, personalisation: false }),
  version: VERSION,
}

// The page is being hidden or left: everything still waiting goes out by sendBeacon.
function onExit() {
  sendFirstPageview(false)
  sendEngagement()
  flushOnExit()
}

function start() {
  const config = readConfig()
  if (!config.key) return console.warn('haina: the script tag has no data-key')
  const stub = window.haina
  initTracker(config)
  captureCampaign()
  const haina = function (method, ...args) {
    if (typeof api[method] == 'function') return api[method](...args)
  }
  window.haina = Object.assign(haina, api)
  // The snippet queued [time, method, ...args] for every call made before this file loaded.
  for (const [time, method, ...args] of (stub && stub.q) || []) at(time, () => haina(method, ...args))
  startEngagement(config.heartbeatMs)
  startPageviews(config.spa)
  if (config.autocapture) startAutocapture()
  document.addEventListener('visibilitychange', () => document.visibilityState == 'hidden' && onExit())
  addEventListener('pagehide', onExit)
  addEventListener('blur', sendEngagement)
}

if (!(window.haina && window.haina.version)) start()
