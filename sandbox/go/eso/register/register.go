// Package register replaces, in the sandbox's build only, the upstream file
// pkg/provider/register/register.go of the External Secrets module, which imports every one of its
// 35 secret providers for their side effect of registering themselves. The sandbox's stores are all
// AWS (Secrets Manager in moto), so this controller registers the AWS provider alone: the same
// upstream controller code, without compiling the Azure, GCP, Oracle, IBM, Vault, ... SDKs it never
// calls. A store naming any other provider is left not Ready by this build ("failed to find
// registered store backend"). sandbox/build.ts builds from a copy of the module with this file swapped
// in; the module cache is never edited.
package register

import (
	_ "github.com/external-secrets/external-secrets/pkg/provider/aws"
)
