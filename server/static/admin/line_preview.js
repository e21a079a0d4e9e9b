// The LINE chat preview: LINE message objects (text, image, Flex bubble or carousel) drawn as the
// LINE app shows them. Text reaches the page only through textContent, never as HTML.

const FLEX_SIZES = { xxs: 10, xs: 11, sm: 13, md: 14, lg: 16, xl: 19, xxl: 22, "3xl": 26 };

function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? child : child);
  }
  return node;
}

function flexNode(node) {
  if (!node || typeof node !== "object") return null;
  if (node.type === "box") {
    const box = el("div", `fx-box fx-${node.layout || "vertical"}`, ...(node.contents || []).map(flexNode));
    if (node.backgroundColor) box.style.background = node.backgroundColor;
    if (node.cornerRadius) box.style.borderRadius = "8px";
    if (node.paddingAll) box.style.padding = "10px";
    return box;
  }
  if (node.type === "text") {
    const text = el("p", "fx-text", node.text || "");
    text.style.fontSize = `${FLEX_SIZES[node.size] || 14}px`;
    if (node.weight === "bold") text.style.fontWeight = "700";
    if (node.color) text.style.color = node.color;
    if (node.align) text.style.textAlign = node.align;
    return text;
  }
  if (node.type === "image") {
    const img = el("img", "fx-image");
    img.src = node.url;
    img.alt = "";
    img.loading = "lazy";
    return img;
  }
  if (node.type === "button") {
    const button = el("span", `fx-button ${node.style || "link"}`, (node.action && node.action.label) || "");
    if (node.style === "primary" && node.color) button.style.background = node.color;
    if (node.action && node.action.uri) button.title = node.action.uri;
    return button;
  }
  if (node.type === "separator") return el("hr", "fx-separator");
  return null;
}

function bubble(b) {
  return el("div", `fx-bubble ${b.size || "mega"}`,
    b.hero ? el("div", "fx-hero", flexNode(b.hero)) : null,
    b.body ? el("div", "fx-body", flexNode(b.body)) : null,
    b.footer ? el("div", "fx-footer", flexNode(b.footer)) : null);
}

export function lineMessage(message) {
  let body;
  if (message.type === "text") body = el("div", "line-bubble text", message.text || "");
  else if (message.type === "image") {
    const img = el("img");
    img.src = message.previewImageUrl;
    img.alt = "";
    body = el("div", "line-bubble image", img);
  } else if (message.type === "flex") {
    const contents = message.contents || {};
    body = contents.type === "carousel"
      ? el("div", "fx-carousel", ...(contents.contents || []).map(bubble))
      : bubble(contents);
    body.dataset.alt = message.altText || "";
  } else body = el("div", "line-bubble text", `[${message.type}]`);
  body.dataset.type = message.type;
  const items = (message.quickReply && message.quickReply.items) || [];
  return el("div", "line-message", body,
    items.length ? el("div", "quick-replies", ...items.map((i) => el("span", "quick", i.action.label))) : null);
}

// Draw `messages` into `container` as a chat from the shop (`shopName`) at `time`.
export function renderChat(container, messages, { shopName = "", time = "" } = {}) {
  container.replaceChildren();
  if (shopName) container.append(el("div", "line-chat-header", shopName));
  for (const message of messages) {
    const row = el("div", "line-row", el("span", "line-avatar"), lineMessage(message), time ? el("span", "line-time", time) : null);
    container.append(row);
  }
}
