//! The sequence half of nn-train: the corpus loader, `get_batch`, `RnnlmTrainer` and
//! `eval_perplexity` (the book's numbers are checked by the examples' tests against the
//! reference runs; here their semantics and their errors).

use nn_core::{Backend, DType, Error, NumpyRng, IGNORE_LABEL};
use nn_cpu::Cpu;
use nn_layers::{LanguageModel, Module, Rnnlm, SimpleRnnlm};
use nn_optim::Sgd;
use nn_train::{
    eval_perplexity, get_batch, load_params, made_up_corpus, save_params, Corpus, Output,
    RnnlmFitOptions, RnnlmTrainer,
};
use std::path::Path;

type B = Cpu<f64>;

fn quiet(max_epoch: usize, batch_size: usize, time_size: usize) -> RnnlmFitOptions {
    RnnlmFitOptions {
        max_epoch,
        batch_size,
        time_size,
        output: Output::Silent,
        ..Default::default()
    }
}

#[test]
fn corpus_reads_as_ptb_py_does() {
    // Newlines become <eos>; ids by first appearance; a line without a trailing space joins
    // its last word to <eos>, as `replace('\n', '<eos>')` does.
    let c = Corpus::from_text(" a b c \n b a\n c \n").unwrap();
    let words: Vec<&str> = c.ids().iter().map(|&i| c.word(i).unwrap()).collect();
    assert_eq!(words, ["a", "b", "c", "<eos>", "b", "a<eos>", "c", "<eos>"]);
    assert_eq!(c.ids(), [0, 1, 2, 3, 1, 4, 2, 3]);
    assert_eq!((c.vocab_size(), c.id("c"), c.id("z")), (5, Some(2), None));
    assert_eq!(c.encode(" c a \n", "t").unwrap(), [2, 0, 3]);
    let e = c
        .encode(" a zz b yy \n", "the test file")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("2 of the words") && e.contains("\"zz\" (word 2)"),
        "{e}"
    );
    assert!(matches!(Corpus::from_text(" \t "), Err(Error::Empty(_))));
    // Newlines are words: an empty line is `<eos>`, two are `<eos><eos>`.
    assert_eq!(Corpus::from_text("\n\n").unwrap().words(), ["<eos><eos>"]);
    assert!(matches!(c.encode("", "t"), Err(Error::Empty(_))));
}

#[test]
fn corpus_files_and_their_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("ptb.train.txt");
    let e = Corpus::load(&missing).unwrap_err().to_string();
    assert!(
        e.contains("ptb.train.txt") && e.contains(nn_train::PTB_URL),
        "{e}"
    );
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "  ").unwrap();
    let e = Corpus::load(&empty).unwrap_err().to_string();
    assert!(e.contains("empty.txt") && e.contains("no words"), "{e}");
    let train = dir.path().join("train.txt");
    std::fs::write(&train, made_up_corpus(30, 0)).unwrap();
    let c = Corpus::load(&train).unwrap();
    let test = dir.path().join("test.txt");
    std::fs::write(&test, " the \n unheard words \n").unwrap();
    let e = c.encode_file(&test).unwrap_err().to_string();
    assert!(e.contains("test.txt") && e.contains("\"unheard\""), "{e}");
    std::fs::write(&test, [0xff, 0xfe, b'a']).unwrap();
    assert!(matches!(c.encode_file(&test), Err(Error::Io { .. })));
    // The made-up corpus: PTB's line format, deterministic, different seeds differ.
    let text = made_up_corpus(5, 0);
    assert_eq!(text.lines().count(), 5);
    assert!(text.lines().all(|l| l.starts_with(' ') && l.ends_with(' ')));
    assert_eq!(text, made_up_corpus(5, 0));
    assert_ne!(text, made_up_corpus(5, 1));
}

#[test]
fn get_batch_wraps_and_carries_time_idx() {
    let xs: Vec<u32> = (0..7).collect();
    let ts: Vec<u32> = (100..107).collect();
    // jump = 7 / 2 = 3: sequence 0 from 0, sequence 1 from 3.
    let (bx, bt, next) = get_batch(&xs, &ts, 2, 3, 5);
    assert_eq!(bx, [5, 1, 6, 2, 0, 3]);
    assert_eq!(bt, [105, 101, 106, 102, 100, 103]);
    assert_eq!(next, 8);
}

/// `fit` runs `len / (batch · time)` iterations an epoch, records a perplexity at iterations
/// 0, e, 2e, … of each epoch over the iterations since the last record, and keeps every loss.
#[test]
fn fit_records_what_the_book_records() {
    let b = B::new();
    let c = Corpus::from_text(&made_up_corpus(60, 0)).unwrap();
    let ids = c.ids();
    let (xs, ts) = (&ids[..ids.len() - 1], &ids[1..]);
    let model = SimpleRnnlm::new(&b, c.vocab_size(), 6, 7, &mut NumpyRng::new(1)).unwrap();
    let mut t = RnnlmTrainer::new(model, Sgd::new(0.1).unwrap());
    let o = RnnlmFitOptions {
        eval_interval: Some(4),
        ..quiet(3, 4, 5)
    };
    t.fit(xs, ts, &o).unwrap();
    let max_iters = xs.len() / 20;
    let per_epoch = max_iters.div_ceil(4);
    assert_eq!(t.losses().len(), 3 * max_iters);
    assert_eq!(t.ppl_list().len(), 3 * per_epoch);
    assert_eq!(t.current_epoch(), 3);
    // The first record covers iteration 0 alone; the second iterations 1 to 4.
    let l = t.losses();
    assert!((t.ppl_list()[0] - l[0].exp()).abs() < 1e-12);
    let mean: f64 = l[1..5].iter().sum::<f64>() / 4.0;
    assert!((t.ppl_list()[1] - mean.exp()).abs() < 1e-12);
    // A second fit starts its records and its time_idx again; the epochs count on.
    t.fit(xs, ts, &quiet(1, 4, 5)).unwrap();
    assert_eq!(t.losses().len(), max_iters);
    assert_eq!(t.current_epoch(), 4);
    // No records without an interval, but every loss.
    let o = RnnlmFitOptions {
        eval_interval: None,
        ..quiet(1, 4, 5)
    };
    t.fit(xs, ts, &o).unwrap();
    assert!(t.ppl_list().is_empty());
    assert_eq!(t.losses().len(), max_iters);
}

#[test]
fn fit_refuses_bad_input_before_any_work() {
    let b = B::new();
    let model = SimpleRnnlm::new(&b, 10, 3, 3, &mut NumpyRng::new(1)).unwrap();
    let before = model.params().clone();
    let mut t = RnnlmTrainer::new(model, Sgd::new(0.1).unwrap());
    let xs: Vec<u32> = (0..40).map(|i| i % 10).collect();
    let ts: Vec<u32> = (1..41).map(|i| i % 10).collect();
    let mut err =
        |xs: &[u32], ts: &[u32], o: &RnnlmFitOptions| t.fit(xs, ts, o).unwrap_err().to_string();
    assert!(err(&xs, &ts, &quiet(1, 5, 9)).contains("shorter than one batch"));
    assert!(err(&xs, &ts[1..], &quiet(1, 2, 2)).contains("40 input ids but 39"));
    assert!(err(&xs, &ts, &quiet(1, 0, 2)).contains("at least 1"));
    let mut bad = xs.clone();
    bad[7] = 10;
    let e = err(&bad, &ts, &quiet(1, 2, 2));
    assert!(
        e.contains("word id 10 at position 7") && e.contains("vocabulary of 10"),
        "{e}"
    );
    let o = RnnlmFitOptions {
        max_grad: Some(f64::NAN),
        ..quiet(1, 2, 2)
    };
    assert!(err(&xs, &ts, &o).contains("max_grad"));
    let o = RnnlmFitOptions {
        eval_interval: Some(0),
        ..quiet(1, 2, 2)
    };
    assert!(err(&xs, &ts, &o).contains("eval_interval"));
    let (model, _) = t.into_inner();
    for ((_, p), (_, q)) in model.params().iter().zip(before.iter()) {
        assert_eq!(
            B::new().to_host(p.value()).unwrap(),
            B::new().to_host(q.value()).unwrap()
        );
    }
}

/// Targets labelled IGNORE_LABEL are skipped by the loss: the losses of each position alone
/// (every other ignored) average to the loss of all positions; all ignored is an error.
#[test]
fn ignored_targets_do_not_count() {
    let b = B::new();
    let mut m = SimpleRnnlm::new(&b, 6, 3, 4, &mut NumpyRng::new(2)).unwrap();
    let xs = b.index_from_host(&[0, 1, 2, 3]).unwrap();
    let mut loss = |ts: &[u32]| {
        m.reset_state();
        let ts = b.index_from_host(ts).unwrap();
        m.forward(&xs, &ts, 2).map(|l| b.scalar(&l).unwrap())
    };
    let all = loss(&[4, 5, 1, 0]).unwrap();
    let mut alone = 0.0;
    for (k, t) in [4, 5, 1, 0].into_iter().enumerate() {
        let mut ts = [IGNORE_LABEL; 4];
        ts[k] = t;
        alone += loss(&ts).unwrap() / 4.0;
    }
    approx::assert_relative_eq!(alone, all, max_relative = 1e-14);
    assert!(loss(&[IGNORE_LABEL; 4]).is_err());
}

#[test]
fn eval_perplexity_of_an_untrained_model_is_near_the_vocabulary() {
    let b = B::new();
    let c = Corpus::from_text(&made_up_corpus(80, 0)).unwrap();
    let v = c.vocab_size();
    let mut m = Rnnlm::new(&b, v, 5, 5, &mut NumpyRng::new(3)).unwrap();
    let ppl = eval_perplexity(&mut m, c.ids(), 10, 35).unwrap();
    // Near-uniform predictions at the start: close to the vocabulary size.
    assert!((ppl / v as f64 - 1.0).abs() < 0.05, "{ppl} vs {v}");
    // The state carried has 10 rows: another batch size needs reset_state first.
    let e = eval_perplexity(&mut m, c.ids(), 4, 35)
        .unwrap_err()
        .to_string();
    assert!(e.contains("reset_state"), "{e}");
    m.reset_state();
    assert!(eval_perplexity(&mut m, c.ids(), 4, 35).is_ok());
    let e = eval_perplexity(&mut m, &c.ids()[..350], 10, 35)
        .unwrap_err()
        .to_string();
    assert!(e.contains("too short"), "{e}");
    assert!(eval_perplexity(&mut m, &[0, v as u32], 1, 1).is_err());
}

/// Weight files carry a language model like any model: saved in f16, f32 or f64 and loaded
/// back into a fresh model of the same sizes, which then scores as the saved one.
#[test]
fn language_models_save_and_load() {
    let b = B::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lstm.safetensors");
    let mut m = Rnnlm::new(&b, 12, 4, 5, &mut NumpyRng::new(4)).unwrap();
    save_params(&m, &path, DType::F64).unwrap();
    let mut fresh = Rnnlm::new(&b, 12, 4, 5, &mut NumpyRng::new(99)).unwrap();
    assert_eq!(load_params(&mut fresh, &path).unwrap(), DType::F64);
    let xs = b.index_from_host(&[0, 3, 5, 7, 9, 11]).unwrap();
    let ts = b.index_from_host(&[3, 5, 7, 9, 11, 0]).unwrap();
    let (l1, l2) = (
        b.scalar(&m.forward(&xs, &ts, 3).unwrap()).unwrap(),
        b.scalar(&fresh.forward(&xs, &ts, 3).unwrap()).unwrap(),
    );
    assert_eq!(l1, l2);
    // Another hidden size, or the other model, is refused by name or shape.
    let mut other = Rnnlm::new(&b, 12, 4, 6, &mut NumpyRng::new(4)).unwrap();
    assert!(matches!(
        load_params(&mut other, &path),
        Err(Error::ParamShape { .. })
    ));
    let mut simple = SimpleRnnlm::new(&b, 12, 4, 5, &mut NumpyRng::new(4)).unwrap();
    assert!(load_params(&mut simple, Path::new(&path)).is_err());
}

/// `fit` returns what it did; `fit_with`'s callback sees every record with the model and can
/// stop training early.
#[test]
fn fit_reports_and_a_callback_can_stop_it() {
    let b = B::new();
    let c = Corpus::from_text(&made_up_corpus(60, 0)).unwrap();
    let ids = c.ids();
    let (xs, ts) = (&ids[..ids.len() - 1], &ids[1..]);
    let valid = &ids[..400];
    let model = SimpleRnnlm::new(&b, c.vocab_size(), 6, 7, &mut NumpyRng::new(1)).unwrap();
    let mut t = RnnlmTrainer::new(model, Sgd::new(0.1).unwrap());
    let o = RnnlmFitOptions {
        eval_interval: Some(4),
        ..quiet(50, 4, 5)
    };
    let mut seen = Vec::new();
    let report = t
        .fit_with(xs, ts, &o, |r, model| {
            model.reset_state();
            let ppl = eval_perplexity(model, valid, 2, 5)?;
            model.reset_state();
            seen.push((r.epoch, r.iteration, r.value, ppl));
            Ok(if seen.len() == 7 {
                nn_train::Flow::Stop
            } else {
                nn_train::Flow::Continue
            })
        })
        .unwrap();
    assert!(report.stopped && seen.len() == 7);
    assert_eq!(report.perplexities.len(), 7);
    assert_eq!(report.losses.len(), report.iterations);
    assert!(report.epochs < 50 && report.seconds > 0.0);
    assert_eq!(seen[0].0, 1);
    assert!(seen.iter().all(|s| s.3.is_finite() && s.3 > 1.0));
    assert_eq!(
        report.perplexities,
        seen.iter().map(|s| s.2).collect::<Vec<_>>()
    );
}
