import FastCGIHostKit
import Handlers
import ResizeJobs

// Conveyor's fcgi-host with the team's job kind: register first, then serve. Workers are this
// program started again, so they register the same functions.
FunctionRegistry.register(ResizeImage())
FCGIHost.main()
