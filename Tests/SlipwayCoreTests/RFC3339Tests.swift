import Foundation
import SlipwayCore
import Testing

@Suite("RFC 3339 timestamps")
struct RFC3339Tests {
    @Test func readsWhatTheGrammarAllows() {
        let cases: [(String, TimeInterval)] = [
            ("1970-01-01T00:00:00Z", 0),
            ("2026-12-01T00:00:00Z", 1_796_083_200),
            ("2026-12-01t00:00:00z", 1_796_083_200),
            ("2026-12-01T05:30:00+05:30", 1_796_083_200),
            ("2026-11-30T23:00:00-01:00", 1_796_083_200),
            ("2026-12-01T00:00:00.25Z", 1_796_083_200.25),
            // Offsets past ±18 h, which Foundation's ISO 8601 parser refuses, and years before 1000.
            ("2026-12-01T20:18:00+20:18", 1_796_083_200),
            ("0377-03-22T18:21:49.25-20:18", -50_263_147_210.75),
            ("2024-02-29T00:00:00Z", 1_709_164_800),
            ("2016-12-31T23:59:60Z", 1_483_228_800),
        ]
        for (text, expected) in cases {
            let date = RFC3339.date(text)
            #expect(date?.timeIntervalSince1970 == expected, "\(text)")
        }
    }

    @Test func refusesAnythingElse() {
        let refused = [
            "", "yesterday", "2026-12-01", "2026-12-01T00:00Z", "2026-12-01 00:00:00Z", "2026-12-01T00:00:00", "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-12-01T24:00:00Z", "2026-12-01T00:60:00Z", "2026-12-01T00:00:61Z",
            "2026-12-01T00:00:00.Z", "2026-12-01T00:00:00+24:00", "2026-12-01T00:00:00+05:60", "2026-12-01T00:00:00+0530",
            "2026-12-01T00:00:00Zjunk", "+2026-12-01T00:00:00Z", "２０２６-12-01T00:00:00Z",
        ]
        for text in refused {
            #expect(RFC3339.date(text) == nil, "\(text)")
        }
    }
}
