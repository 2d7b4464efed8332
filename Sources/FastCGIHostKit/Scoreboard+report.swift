import FoundationEssentials
import JobQueue

/// What the status report says about the pool besides the scoreboard's counters.
struct PoolIdentity: Sendable {
    var name: String
    var listen: String
    var maxRequests: Int
    var slowSeconds: Double
}

extension Scoreboard {
    /// The pool's status in PHP-FPM's spirit, for the `pool-status` function.
    func report(_ pool: PoolIdentity) -> JSONValue {
        let now = Self.nowMs()
        let start = get(.startTimeMs)
        var active = 0, idle = 0, total = 0
        var requests: UInt64 = 0, connections: UInt64 = 0, slow: UInt64 = 0, grouped: UInt64 = 0
        var workers: [JSONValue] = []
        for slot in 0..<slotCount {
            requests += get(slot, .requestsTotal)
            connections += get(slot, .connectionsTotal)
            slow += get(slot, .slowTotal)
            grouped += get(slot, .groupedTotal)
            let state = state(slot)
            switch state {
            case .active: active += 1; total += 1
            case .idle, .starting: idle += 1; total += 1
            case .exiting: total += 1
            case .empty: continue
            }
            // Only live workers: the board has room for two generations, for reloads.
            workers.append(workerReport(slot, state: state, now: now))
        }
        return .object([
            "pool": .string(pool.name),
            "listen": .string(pool.listen),
            "processManager": .string("static"),
            "masterPid": .int(Int64(get(.masterPid))),
            "startTime": .string(Self.timestamp(start)),
            "uptimeSeconds": .int(Int64(now >= start ? (now - start) / 1000 : 0)),
            "acceptedConnections": .int(Int64(connections)),
            "acceptedRequests": .int(Int64(requests)),
            "groupedRequests": .int(Int64(grouped)),
            "activeWorkers": .int(Int64(active)),
            "idleWorkers": .int(Int64(idle)),
            "totalWorkers": .int(Int64(total)),
            "maxActiveWorkers": .int(Int64(get(.maxActive))),
            "respawns": .int(Int64(get(.respawns))),
            "crashes": .int(Int64(get(.crashes))),
            "recycles": .int(Int64(get(.recycles))),
            "reloads": .int(Int64(get(.reloads))),
            "slowRequests": .int(Int64(slow)),
            "maxRequests": .int(Int64(pool.maxRequests)),
            "slowSeconds": .double(pool.slowSeconds),
            "stopping": .bool(get(.stopping) != 0),
            "workers": .array(workers),
        ])
    }

    func workerReport(_ slot: Int, state: State, now: UInt64) -> JSONValue {
        var w: [String: JSONValue] = [
            "slot": .int(Int64(slot)),
            "pid": .int(Int64(get(slot, .pid))),
            "state": .string(state.name),
            "startedAt": .string(Self.timestamp(get(slot, .startedAtMs))),
            "requests": .int(Int64(get(slot, .requests))),
            "groupedRequests": .int(Int64(get(slot, .grouped))),
            "connections": .int(Int64(get(slot, .connections))),
            "slowRequests": .int(Int64(get(slot, .slow))),
            "generation": .int(Int64(get(slot, .generation))),
        ]
        let begun = get(slot, .requestStartMs)
        if begun > 0 {
            let text = text(slot)
            w["request"] = text.isEmpty ? .null : .string(text)
            if state == .active {
                w["requestStartedAt"] = .string(Self.timestamp(begun))
                w["requestDurationMs"] = .int(Int64(now >= begun ? now - begun : 0))
            } else {
                w["lastRequestAt"] = .string(Self.timestamp(begun))
                w["lastRequestMs"] = .int(Int64(get(slot, .lastRequestMs)))
            }
        }
        return .object(w)
    }

    static func timestamp(_ ms: UInt64) -> String {
        Timestamp.format(Date(timeIntervalSince1970: Double(ms) / 1000))
    }
}
