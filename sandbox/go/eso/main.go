// Command external-secrets is the upstream External Secrets Operator controller,
// built from its Go module and run out of cluster by the sandbox.
package main

import "github.com/external-secrets/external-secrets/cmd/controller"

func main() {
	controller.Execute()
}
