package sandbox

import "syscall"

var terminateSignal = syscall.SIGTERM
