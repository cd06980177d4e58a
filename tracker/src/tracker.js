// The tracker's state: consent, identity, and the one place where messages are made.
import { buildContext, livePage } from './context.js'
import { mergeConsent, readConsent, sameConsent, writeConsent } from './consent.js'
import { forgetId, readId, writeId } from './storage.js'
import { adoptPersisted, clearQueue, enqueue, persist, setupTransport } from './transport.js'
import { uuid } from './uuid.js'

const AID = 'haina_aid'
const UID = 'haina_uid'

let cfg
let consent // null until the visitor (or the site's consent banner) decides
let held = [] // messages made while consent is pending: memory only
let anonymousId
let userId = null
let traits = {}
let callTime = null

export function initTracker(config) {
  cfg = config
  consent = readConsent()
  if (canStore()) {
    anonymousId = readId(AID)
    userId = readId(UID)
  }
  anonymousId = anonymousId || uuid()
  setupTransport(cfg.api + '/v1/batch', cfg.key, canStore)
  if (canStore()) {
    writeId(AID, anonymousId)
    adoptPersisted()
  }
}

// Analytics consent is explicit with data-consent="required", and presumed otherwise until withdrawn.
export const canSend = () => (consent ? consent.analytics : !cfg.consentRequired)
export const canStore = () => canSend() && !cfg.cookieless
const pending = () => !consent && cfg.consentRequired

// Calls replayed from the snippet's queue keep the time they were made.
export function at(time, fn) {
  callTime = time ? new Date(time) : null
  try { fn() } finally { callTime = null }
}

function extraContext() {
  const extra = {}
  if (cfg.cookieless) extra.haina = { cookieless: true }
  if (consent) extra.consent = { categoryPreferences: consent }
  return extra
}

export function emit(type, fields, page) {
  if (!canSend() && !pending()) return
  const msg = Object.assign({ type, messageId: uuid(), timestamp: (callTime || new Date()).toISOString() }, fields)
  if (!cfg.cookieless) msg.anonymousId = anonymousId
  if (userId) msg.userId = userId
  msg.context = buildContext(page || livePage(), extraContext())
  if (canSend()) enqueue(msg)
  else held.push(msg)
}

export function track(event, properties) {
  if (typeof event == 'string' && event) emit('track', { event, properties: properties || {} })
}

export function identify(id, newTraits) {
  if (id && typeof id == 'object') {
    newTraits = id
    id = userId
  }
  if (id != null && id !== '') userId = String(id)
  traits = Object.assign({}, traits, newTraits)
  if (userId && canStore()) writeId(UID, userId)
  emit('identify', { traits })
}

export function reset() {
  userId = null
  traits = {}
  forgetId(UID)
  anonymousId = uuid()
  if (canStore()) writeId(AID, anonymousId)
}

export function setConsent(input) {
  const prev = consent
  consent = mergeConsent(input, prev)
  writeConsent(consent) // the choice itself is remembered, even a refusal
  if (!consent.analytics) return forgetEverything()
  if (canStore()) {
    writeId(AID, anonymousId)
    if (userId) writeId(UID, userId)
    adoptPersisted()
  }
  const released = held
  held = []
  for (const m of released) {
    m.context.consent = { categoryPreferences: consent }
    enqueue(m)
  }
  persist()
  if (!sameConsent(prev, consent)) track('$consent', { purposes: consent })
}

// Withdrawal: stop at once, drop what waits, and remove the identifiers from the device.
function forgetEverything() {
  held = []
  clearQueue()
  forgetId(AID)
  forgetId(UID)
  anonymousId = uuid()
  userId = null
  traits = {}
}
