// Clicks on links and buttons, elements tagged with data-haina-event, and form submissions.
// Never reads what a visitor typed: only labels, ids, classes and link targets.
import { track } from './tracker.js'

const CLICKABLE = 'a,button,input[type=submit],input[type=button]'
const PROP_PREFIX = 'data-haina-prop-'

const attr = (el, name) => el.getAttribute(name) || undefined

// A short CSS selector: up to four steps, stopping at the nearest id.
function selectorFor(el) {
  const steps = []
  for (let n = el; n && n.nodeType == 1 && steps.length < 4; n = n.parentElement) {
    if (n.id) {
      steps.unshift('#' + CSS.escape(n.id))
      break
    }
    let step = n.localName + [...n.classList].slice(0, 2).map((c) => '.' + CSS.escape(c)).join('')
    const siblings = n.parentElement ? [...n.parentElement.children].filter((c) => c.localName == n.localName) : []
    if (siblings.length > 1) step += ':nth-of-type(' + (siblings.indexOf(n) + 1) + ')'
    steps.unshift(step)
    if (n.localName == 'body') break
  }
  return steps.join(' > ')
}

function elementFields(el) {
  const input = el.localName == 'input'
  const text = (input ? el.value : el.innerText || el.textContent || '').replace(/\s+/g, ' ').trim()
  return {
    tag: el.localName,
    text: text.slice(0, 255),
    selector: selectorFor(el),
    href: el.href && typeof el.href == 'string' ? el.href : undefined,
    element_id: attr(el, 'id'),
    classes: [...el.classList],
  }
}

function onClick(e) {
  if (e.type == 'auxclick' && e.button != 1) return // middle click only: it opens links in a new tab
  const target = e.target instanceof Element ? e.target : null
  if (!target || target.closest('[data-haina-ignore]')) return
  const tagged = target.closest('[data-haina-event]')
  const clicked = target.closest(CLICKABLE)
  if (tagged) {
    const props = elementFields(clicked && tagged.contains(clicked) ? clicked : tagged)
    for (const name of tagged.getAttributeNames()) {
      if (name.indexOf(PROP_PREFIX) == 0) props[name.slice(PROP_PREFIX.length).replace(/-/g, '_')] = tagged.getAttribute(name)
    }
    track(tagged.getAttribute('data-haina-event'), props)
  } else if (clicked) {
    track('$click', elementFields(clicked))
  }
}

function onSubmit(e) {
  const form = e.target
  if (!(form instanceof HTMLFormElement) || form.closest('[data-haina-ignore]')) return
  // getAttribute, not form.id / form.action: a field named "id" or "action" would shadow them.
  const action = attr(form, 'action')
  track('$form_submit', {
    form_id: attr(form, 'id'),
    form_name: attr(form, 'name'),
    action: new URL(action || '', location.href).href,
    selector: selectorFor(form),
  })
}

export function startAutocapture() {
  document.addEventListener('click', onClick, true)
  document.addEventListener('auxclick', onClick, true)
  document.addEventListener('submit', onSubmit, true)
}
