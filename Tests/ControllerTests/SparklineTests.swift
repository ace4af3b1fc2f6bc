import ControllerAPI
import Testing

@Suite struct SparklineBehaviour {
    @Test func valuesAreScaledBetweenTheirMinimumAndMaximum() {
        #expect(Sparkline.render([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█")
        #expect(Sparkline.render([7, 0]) == "█▁")
        #expect(Sparkline.render([]) == "")
        #expect(Sparkline.render([2, 2, 2]) == "▄▄▄")
        #expect(Sparkline.render([1, .nan, 2]) == "▁█")
    }

    @Test func longSeriesAreAveragedIntoTheWidth() {
        let values = (0..<400).map(Double.init)
        let line = Sparkline.render(values, width: 40)
        #expect(line.count == 40)
        #expect(line.first == "▁")
        #expect(line.last == "█")
        #expect(Sparkline.render([5, 4, 3, 2, 1, 0], width: 3) == "█▅▁")
    }
}
