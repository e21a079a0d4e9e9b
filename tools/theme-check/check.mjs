// Theme Check for the theme app extension: prints every offense, fails on errors.
// The extension's shopify.extension.toml makes theme-check-node pick its app-extension rules.
import path from "node:path";
import { themeCheckRun, Severity } from "@shopify/theme-check-node";

const root = path.resolve(process.argv[2] ?? "../../shopify_extension");
const { offenses } = await themeCheckRun(root, undefined, () => {});
const names = { [Severity.ERROR]: "error", [Severity.WARNING]: "warning", [Severity.INFO]: "info" };
for (const o of offenses) {
  const file = path.relative(root, new URL(o.uri).pathname);
  const line = (o.start?.line ?? 0) + 1;
  console.log(`${names[o.severity] ?? o.severity} ${o.check} ${file}:${line} ${o.message}`);
}
const errors = offenses.filter((o) => o.severity === Severity.ERROR).length;
console.log(`theme-check: ${offenses.length} offense(s), ${errors} error(s) in ${root}`);
process.exit(errors ? 1 : 0);
