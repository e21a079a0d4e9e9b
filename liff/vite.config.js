// Builds the LIFF app into server/static/liff/, which Flask serves: index.html at /liff/<liff id>/
// (never cached) and content-hashed files under /liff/assets/ (cached for a year).
import { defineConfig } from "vite";

export default defineConfig({
  base: "/liff/",
  build: {
    outDir: "../server/static/liff",
    emptyOutDir: true,
    assetsDir: "assets",
    target: "es2020",
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
  },
});
