// Command kube-controller-manager is the upstream controller manager. The sandbox runs only the
// controllers a real cluster needs for object lifecycles: namespace deletion, garbage collection of
// owned objects, and service-account tokens.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
