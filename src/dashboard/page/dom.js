// Building the page's elements. Text always goes in as text, never as HTML: worker ids come from the network.

export const $ = (id) => document.getElementById(id)

/** Builds an element: attributes (`class`, `dataset`, `onX` listeners, the rest as attributes) and children. */
export const h = (tag, attrs = {}, ...children) => {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue
    if (key === "class") el.className = value
    else if (key === "dataset") Object.assign(el.dataset, value)
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value)
    else el.setAttribute(key, value === true ? "" : String(value))
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue
    el.append(child instanceof Node ? child : String(child))
  }
  return el
}

/** `from → to`, the target state tagged for its colour. */
export const arrowTo = (from, to) => [`${from} → `, h("span", { class: "to", dataset: { state: to } }, to)]
