# Time lavaan's sem() with fitMeasures() and parameterEstimates() for
# bench_ml.py: one warm-up fit, then REPEATS timed fits. Reading the CSV is not
# timed. Results go to stdout as lines "KEY value ...", which bench_ml.py
# parses, and the estimates of the last fit go to a CSV file.
#
# Usage:
#   Rscript lavaan_timing.R DATA_CSV MODEL_FILE REPEATS ESTIMATES_CSV
#
# Exit status 2 means invalid arguments and 3 means lavaan is not installed.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 4) {
  cat("usage: Rscript lavaan_timing.R DATA_CSV MODEL_FILE REPEATS",
      "ESTIMATES_CSV\n", file = stderr())
  quit(status = 2)
}
data_path <- args[[1]]
model_path <- args[[2]]
repeats <- as.integer(args[[3]])
estimates_path <- args[[4]]
if (is.na(repeats) || repeats < 1) {
  cat("REPEATS must be a positive integer, got", args[[3]], "\n",
      file = stderr())
  quit(status = 2)
}

if (!requireNamespace("lavaan", quietly = TRUE)) {
  cat("LAVAAN_UNAVAILABLE the R package lavaan is not installed\n")
  quit(status = 3)
}
suppressPackageStartupMessages(library(lavaan))

cat("R_VERSION", paste(R.version$major, R.version$minor, sep = "."), "\n")
cat("LAVAAN_VERSION", as.character(packageVersion("lavaan")), "\n")
cat("R_BLAS", sessionInfo()$BLAS, "\n")

# Not timed: reading the data and the model text.
data <- read.csv(data_path)
model <- paste(readLines(model_path), collapse = "\n")

fit_and_summarise <- function(frame) {
  fit <- sem(model, data = frame)
  list(
    fit = fit,
    measures = fitMeasures(fit),
    estimates = parameterEstimates(fit)
  )
}

# The first full-size fit in a session is slower than the later ones, so it is
# reported apart from the repeats. system.time() runs the garbage collector
# before it starts the clock.
timing <- system.time(fit_and_summarise(data))
cat(sprintf("LAVAAN_WARMUP %.6f\n", timing[["elapsed"]]))

for (run in seq_len(repeats)) {
  timing <- system.time(result <- fit_and_summarise(data))
  cat(sprintf(
    "LAVAAN_TIME %d %.6f %.6f %.6f\n", run, timing[["elapsed"]],
    timing[["user.self"]], timing[["sys.self"]]
  ))
}

cat(sprintf("LAVAAN_CHISQ %.10f\n", result$measures[["chisq"]]))
cat("LAVAAN_CONVERGED", lavInspect(result$fit, "converged"), "\n")
cat("LAVAAN_ITERATIONS", lavInspect(result$fit, "iterations"), "\n")
columns <- c("lhs", "op", "rhs", "est", "se")
write.csv(result$estimates[, columns], estimates_path, row.names = FALSE)
