//! The spiral trained on the CPU and on the GPU by the same Trainer code: the recorded losses
//! agree to 1e-4 relative in f32 and 1e-9 in f64, and the accuracies are equal (on each backend,
//! over the host data and over a copy on the device). Skipped, with a notice, without a GPU
//! (NN_REQUIRE_GPU=1 makes that a failure); `cargo xtask cuda-emu` runs it on nn-cuda-emu, the
//! CPU emulation of the CUDA libraries.

use nn_core::{Backend, NumpyRng};
use nn_cpu::{Cpu, CpuFloat};
use nn_cuda::{Cuda, CudaFloat};
use nn_layers::{Module, TwoLayerNet};
use nn_optim::by_name;
use nn_train::{eval, spiral, FitOptions, Output, Trainer};

fn train<B: Backend>(b: B, optimizer: &str, lr: f64) -> (Vec<f64>, f64) {
    let mut rng = NumpyRng::new(1984);
    let data = spiral::load_data_from(&mut rng);
    let model = TwoLayerNet::new(&b, 2, 10, 3, &mut rng).unwrap();
    let mut t = Trainer::new(model, by_name::<B>(optimizer, lr).unwrap());
    let o = FitOptions {
        max_epoch: 300,
        batch_size: 30,
        max_grad: Some(5.0),
        eval_interval: Some(10),
        output: Output::Silent,
        ..Default::default()
    };
    t.fit(&data, &o, &mut rng).unwrap();
    let acc = eval::accuracy(t.model_mut(), &data).unwrap();
    // The same over a copy on the device, as after `fit_device`.
    let dev = data.to_device(t.model().backend()).unwrap();
    assert_eq!(eval::accuracy_device(t.model_mut(), &dev).unwrap(), acc);
    (t.loss_list().to_vec(), acc)
}

fn gpu<E: CudaFloat>() -> Option<Cuda<E>> {
    nn_cuda::test_backend("parity")
}

fn compare<E: CudaFloat + CpuFloat>(cpu: Cpu<E>, rel: f64) {
    let Some(g) = gpu::<E>() else { return };
    for (opt, lr) in [("sgd", 1.0), ("adam", 0.01)] {
        let (lc, ac) = train(cpu, opt, lr);
        let (lg, ag) = train(g.clone(), opt, lr);
        assert_eq!(lc.len(), lg.len());
        let worst = lc
            .iter()
            .zip(&lg)
            .map(|(a, b)| ((a - b) / a).abs())
            .fold(0.0, f64::max);
        assert!(
            worst <= rel,
            "{opt} {}: worst relative difference {worst:e} > {rel:e}",
            E::DTYPE
        );
        assert_eq!(ac, ag, "{opt}: accuracy");
        println!(
            "parity {opt} {}: {} losses, worst rel. diff {worst:.2e}, accuracy {ag}",
            E::DTYPE,
            lc.len()
        );
    }
}

#[test]
fn spiral_f32_cpu_and_gpu_agree() {
    compare(Cpu::<f32>::new(), 1e-4);
}

#[test]
fn spiral_f64_cpu_and_gpu_agree() {
    compare(Cpu::<f64>::new(), 1e-9);
}

/// Launches per spiral iteration (kernels + cuBLAS calls) and reads back to the host, printed
/// for the record and bounded so that a change that adds any is noticed. With clipping on, a
/// Trainer iteration is 18 launches: the batch gather 1; per Affine the product and the bias
/// 2 (×2); sigmoid 1; softmax with its loss sum 1; the loss backward 1; per Affine backward dW,
/// db and (second layer only) dx 3 + 2; sigmoid backward 1; the gradient norm and the clipping
/// 2; SGD 1; the loss log 1. The only read back is the loss, when a line is due (every 10th
/// iteration here).
#[test]
fn spiral_iteration_launch_count() {
    let Some(g) = gpu::<f32>() else { return };
    let (launches, reads) = (g.launch_count(), g.host_reads());
    let (losses, _) = train(g.clone(), "sgd", 1.0);
    let per_iter = (g.launch_count() - launches) as f64 / 3000.0;
    let reads = (g.host_reads() - reads) as f64 / 3000.0;
    println!(
        "{} losses; {per_iter:.2} launches and {reads:.3} reads to the host per spiral iteration",
        losses.len()
    );
    // 18 per iteration, and a few for the final accuracies.
    assert!(per_iter < 18.01, "{per_iter} launches per iteration");
    // 300 loss reads in 3000 iterations, and the final accuracies'.
    assert!(reads < 0.11, "{reads} reads per iteration");
}

#[test]
fn no_gpu_is_a_clear_error_not_a_panic() {
    if let Err(e) = nn_cuda::available() {
        let msg = e.to_string();
        assert!(
            msg.contains("not found") || msg.contains("no CUDA device"),
            "{msg}"
        );
    }
}
