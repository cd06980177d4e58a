// Batching, delivery and retries. Messages wait in `queue` until the server has answered for
// them; when storing is allowed the queue is mirrored to localStorage so a reload re-sends it.
import { lsDel, lsGet, lsKeys, lsSet } from './storage.js'
import { uuid } from './uuid.js'

const PREFIX = 'haina_q_'
const TAB_KEY = PREFIX + uuid().slice(0, 8) // one key per tab, so tabs never overwrite each other
const MAX_MESSAGES = 100
const MAX_BODY = 60000 // bytes; fetch keepalive and sendBeacon allow 64 KB in flight
const MAX_MESSAGE = 32000 // Segment's per-event limit
const MAX_QUEUE = 500
const FLUSH_AT = 20
const FLUSH_MS = 1000

let url, key, mayPersist
let queue = []
let sending = null // the batch in flight: always the head of `queue`
let timer = 0
let dueAt = 0
let failures = 0
let holdUntil = 0
let persistPending = false

const byteSize = (s) => new Blob([s]).size

export function setupTransport(batchUrl, writeKey, persistAllowed) {
  url = batchUrl
  key = writeKey
  mayPersist = persistAllowed
  addEventListener('online', () => { holdUntil = 0; flush() })
}

export function enqueue(msg) {
  if (byteSize(JSON.stringify(msg)) > MAX_MESSAGE) return console.warn('haina: message over 32 KB dropped', msg.event || msg.type)
  queue.push(msg)
  if (queue.length > MAX_QUEUE) queue.splice(sending ? sending.length : 0, 1)
  persist()
  if (queue.length - (sending ? sending.length : 0) >= FLUSH_AT) flush()
  else schedule(FLUSH_MS)
}

// Take over queues left by earlier page loads (or other tabs; the server drops duplicates by messageId).
export function adoptPersisted() {
  let adopted = []
  for (const k of lsKeys(PREFIX)) {
    try {
      const saved = JSON.parse(lsGet(k))
      if (saved.k != key) continue
      adopted = adopted.concat(saved.q)
    } catch (e) { /* unreadable: drop it */ }
    lsDel(k)
  }
  if (!adopted.length) return
  queue = sending ? queue.slice(0, sending.length).concat(adopted, queue.slice(sending.length)) : adopted.concat(queue)
  persist()
  schedule(0)
}

export function clearQueue() {
  queue = []
  for (const k of lsKeys(PREFIX)) lsDel(k)
}

// Written once at the end of the current task, however many messages it queued.
export function persist() {
  if (persistPending) return
  persistPending = true
  Promise.resolve().then(() => {
    persistPending = false
    if (!mayPersist()) return
    if (queue.length) lsSet(TAB_KEY, JSON.stringify({ k: key, q: queue }))
    else lsDel(TAB_KEY)
  })
}

// Flush in `ms`, unless a flush is already due sooner.
function schedule(ms) {
  if (timer && dueAt <= Date.now() + ms) return
  clearTimeout(timer)
  dueAt = Date.now() + ms
  timer = setTimeout(() => { timer = 0; flush() }, ms)
}

function nextBatch(from) {
  const batch = []
  let size = 120 // envelope: sentAt, writeKey
  for (let i = from; i < queue.length && batch.length < MAX_MESSAGES; i++) {
    size += byteSize(JSON.stringify(queue[i])) + 1
    if (size > MAX_BODY) break
    batch.push(queue[i])
  }
  return batch
}

function body(batch) {
  return JSON.stringify({ batch, sentAt: new Date().toISOString(), writeKey: key })
}

function remove(batch) {
  queue = queue.filter((m) => batch.indexOf(m) < 0)
  persist()
}

export function flush() {
  if (sending || !queue.length) return
  if (Date.now() < holdUntil) return schedule(holdUntil - Date.now())
  const batch = (sending = nextBatch(0))
  fetch(url, { method: 'POST', body: body(batch), keepalive: true, credentials: 'omit' }).then(
    // Read the body to the end: until then the request still counts against the 64 KB keepalive quota.
    (res) => res.text().then(() => settle(batch, res), () => settle(batch, res)),
    () => backOff(batch, null),
  )
}

// 2xx: sent. 408, 429, 5xx: try again later. Any other answer: the server will never take it.
function settle(batch, res) {
  const status = res.status
  if (status == 408 || status == 429 || status >= 500) return backOff(batch, res.headers.get('Retry-After'))
  if (status >= 300) console.warn('haina: batch rejected with HTTP ' + status)
  done(batch)
}

function done(batch) {
  failures = 0
  sending = null
  remove(batch)
  if (queue.length) schedule(0)
}

// 1 s, 2 s, 4 s ... capped at 60 s; a Retry-After header (seconds or a date) wins, up to 5 min.
function backOff(batch, retryAfter) {
  if (sending == batch) sending = null
  let ms = Math.min(1000 * 2 ** failures++, 60000)
  if (retryAfter) {
    const s = +retryAfter
    const ra = isNaN(s) ? Date.parse(retryAfter) - Date.now() : s * 1000
    if (ra >= 0) ms = Math.min(ra, 300000)
  }
  holdUntil = Date.now() + ms
  clearTimeout(timer)
  timer = 0
  schedule(ms)
}

// The page is going away: hand what is waiting to sendBeacon. While the server is failing and
// the queue is stored, keep it for the next page load to send instead.
export function flushOnExit() {
  if ((failures && mayPersist()) || !navigator.sendBeacon) return
  let from = sending ? sending.length : 0
  while (from < queue.length) {
    const batch = nextBatch(from)
    if (!batch.length || !navigator.sendBeacon(url, new Blob([body(batch)], { type: 'text/plain' }))) break
    remove(batch)
  }
}
