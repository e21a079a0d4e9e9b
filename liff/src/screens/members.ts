import { ApiError, api } from "../api";
import { date, t } from "../i18n";
import { openUrl } from "../liff";
import { h, icon, panel, toast } from "../ui";

interface Post {
  id: number;
  title: string;
  body: string;
  image_url: string | null;
  published_at: string;
  min_tier: string | null;
}

function refused(error: ApiError): HTMLElement {
  const details = error.details || {};
  const target = details.reason === "not_linked" ? details.link_url : details.subscribe_url;
  return h(
    "section",
    { class: "refused", "data-screen": "members-refused", "data-reason": details.reason || error.code },
    h("div", { class: "lock" }, icon("lock")),
    h("h1", {}, t("members.refused_title")),
    h("p", { class: "lead" }, t("members.refused_body")),
    target
      ? h(
          "button",
          { class: "primary wide", type: "button", onclick: () => openUrl(target) },
          details.reason === "not_linked" ? t("link.button") : t("members.subscribe"),
        )
      : null,
  );
}

function postCard(post: Post): HTMLElement {
  return h(
    "article",
    { class: "post", "data-post": post.id },
    post.image_url
      ? h("img", { src: post.image_url, alt: "", loading: "lazy", width: 640, height: 360, class: "post-image" })
      : null,
    h(
      "div",
      { class: "post-body" },
      h("p", { class: "meta" }, date(post.published_at), post.min_tier ? ` · ${t("members.min_tier", { tier: post.min_tier })}` : ""),
      h("h3", {}, post.title),
      ...post.body.split(/\n{2,}/).map((para) => h("p", {}, para)),
    ),
  );
}

export async function renderMembers(): Promise<HTMLElement> {
  let data: { posts: Post[] };
  try {
    data = await api<{ posts: Post[] }>("/subscribers/posts");
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) return refused(error);
    throw error;
  }
  const support = h("button", { class: "primary wide", type: "button" }, t("members.priority")) as HTMLButtonElement;
  support.addEventListener("click", async () => {
    support.disabled = true;
    try {
      const answer = await api<{ chat_url: string | null }>("/subscribers/priority-support", { method: "POST" });
      toast(t("members.priority_done"));
      support.dataset.done = "true";
      if (answer.chat_url) openUrl(answer.chat_url);
    } finally {
      support.disabled = false;
    }
  });
  return h(
    "div",
    { "data-screen": "members" },
    h("section", { class: "members-hero" }, h("h1", {}, t("members.title")), h("p", {}, t("members.lead"))),
    panel(null, support, h("p", { class: "note" }, t("members.priority_note"))),
    data.posts.length
      ? h("div", { class: "posts" }, ...data.posts.map(postCard))
      : panel(null, h("p", { class: "note" }, t("members.empty"))),
  );
}
