import Foundation

/// Adam with bias correction (Kingma & Ba 2015); moments live on the parameters so they checkpoint.
public struct Adam: Sendable {
    public var learningRate: Float
    public var beta1: Float = 0.9
    public var beta2: Float = 0.95
    public var epsilon: Float = 1e-8

    public init(learningRate: Float) { self.learningRate = learningRate }

    /// Applies one update; `step` counts from 1.
    public func update(_ params: ParameterSet, step: Int) {
        let c1 = 1 - powf(beta1, Float(step))
        let c2 = 1 - powf(beta2, Float(step))
        for p in params.all {
            for i in p.value.indices {
                let g = p.grad[i]
                p.m[i] = beta1 * p.m[i] + (1 - beta1) * g
                p.v[i] = beta2 * p.v[i] + (1 - beta2) * g * g
                p.value[i] -= learningRate * (p.m[i] / c1) / ((p.v[i] / c2).squareRoot() + epsilon)
            }
        }
    }
}
