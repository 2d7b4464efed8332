import LocalHostKit

// The local-host program: Conveyor's own functions, nothing added.
LocalHost.main()
