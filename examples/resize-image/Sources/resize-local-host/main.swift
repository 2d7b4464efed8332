import Handlers
import LocalHostKit
import ResizeJobs

// Conveyor's local-host with the team's job kind.
FunctionRegistry.register(ResizeImage())
LocalHost.main()
