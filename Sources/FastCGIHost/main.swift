import FastCGIHostKit

// The fcgi-host program: Conveyor's own functions, nothing added.
FCGIHost.main()
