// Validates Kubernetes manifests against the Kubernetes OpenAPI schemas
// (npm kubernetes-models): node k8s_validate.js FILE... ; exit 1 on the first
// invalid document, naming the file and the error.
const fs = require("fs");
const yaml = require("js-yaml");
const kinds = {
  "apps/v1": require("kubernetes-models/apps/v1"),
  "batch/v1": require("kubernetes-models/batch/v1"),
  "v1": require("kubernetes-models/v1"),
};
let bad = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of yaml.loadAll(fs.readFileSync(file, "utf8"))) {
    if (!doc) continue;
    const group = kinds[doc.apiVersion];
    const Kind = group && group[doc.kind];
    try {
      if (!Kind) throw new Error(`unknown kind ${doc.apiVersion}/${doc.kind}`);
      new Kind(doc).validate();
      console.log(`${file}: ${doc.kind} ${doc.metadata.name}: valid`);
    } catch (e) {
      console.log(`${file}: invalid: ${e.message}`);
      bad++;
    }
  }
}
process.exit(bad ? 1 : 0);
