// LIFF, pluggable: the core plus only the modules this app calls (PROTOCOLS.md §5.3).
// Modules are registered before init. For browser tests, a page that defines
// window.__KIZUNA_LIFF_MOCK__ gets @line/liff-mock (loaded as a separate chunk, never part of
// the first screen otherwise); the server still verifies every ID token it receives.
import liff from "@line/liff/core";
import GetAppLanguage from "@line/liff/get-app-language";
import GetIDToken from "@line/liff/get-id-token";
import IsInClient from "@line/liff/is-in-client";
import IsLoggedIn from "@line/liff/is-logged-in";
import Login from "@line/liff/login";
import OpenWindow from "@line/liff/open-window";

export interface MockConfig {
  idToken: string;
  language?: string;
}

declare global {
  interface Window {
    __KIZUNA_LIFF_MOCK__?: MockConfig;
  }
}

export const liffId = decodeURIComponent(location.pathname.split("/")[2] || "");
let mocked = false;

export async function start(): Promise<void> {
  // IsInClient first: the mock plugin asks it at `use` time (line/liff-mock issue #14).
  liff.use(new IsInClient());
  liff.use(new GetIDToken());
  liff.use(new GetAppLanguage());
  liff.use(new IsLoggedIn());
  liff.use(new Login());
  liff.use(new OpenWindow());
  const mock = window.__KIZUNA_LIFF_MOCK__;
  if (mock) {
    const { LiffMockPlugin } = await import("@line/liff-mock");
    liff.use(new LiffMockPlugin());
    await (liff.init as (c: object) => Promise<void>)({ liffId, mock: true });
    (liff as any).$mock.set((p: Record<string, unknown>) => ({
      ...p,
      getIDToken: mock.idToken,
      getAppLanguage: mock.language || "ja",
      isLoggedIn: true,
    }));
    mocked = true;
    return;
  }
  await liff.init({ liffId, withLoginOnExternalBrowser: true });
  if (!liff.isLoggedIn()) liff.login({ redirectUri: location.href });
}

export function idToken(): string | null {
  return liff.getIDToken();
}

export function language(): "ja" | "en" {
  const lang = (liff.getAppLanguage() || "ja").toLowerCase();
  return lang.startsWith("en") ? "en" : "ja";
}

export function relogin(): void {
  // An ID token lives one hour; a page kept open longer asks LINE for a fresh one.
  if (mocked || sessionStorage.getItem("kz-relogin")) return;
  sessionStorage.setItem("kz-relogin", "1");
  liff.login({ redirectUri: location.href });
}

export function openUrl(url: string): void {
  // Inside LINE the in-app browser keeps the customer in LINE; elsewhere a plain navigation.
  if (!mocked && liff.isInClient()) liff.openWindow({ url, external: false });
  else location.href = url;
}
