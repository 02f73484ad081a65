//! `trainer`: builds datasets, trains, renders and evaluates Sackbut voices.

mod audio;
mod bench;
mod dataset;
mod eval;
mod render;
mod shape_args;
mod train;

use clap::{Parser, Subcommand};

/// Sackbut's trainer: from single-note recordings (or a SoundFont) to a playable voice.
#[derive(Parser)]
#[command(name = "trainer", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a dataset from a SoundFont instrument or WAV recordings.
    Dataset(dataset::DatasetArgs),
    /// Train a voice on a dataset.
    Train(train::TrainArgs),
    /// Render a MIDI file through a voice to WAV.
    Render(render::RenderArgs),
    /// Measure a voice: test NLL, pitch, clipping, silence, timing and velocity.
    Eval(eval::EvalArgs),
    /// Time the inference engines on a voice: µs per sample step and real-time factor.
    Bench(bench::BenchArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Dataset(a) => dataset::run(a),
        Command::Train(a) => train::run(a),
        Command::Render(a) => render::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Bench(a) => bench::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
