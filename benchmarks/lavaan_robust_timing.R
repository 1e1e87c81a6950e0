# Time lavaan's sem() with a robust estimator, fitMeasures() and
# parameterEstimates() for bench_robust.py. There is no warm-up fit, because
# one MLR fit at N = 100,000 takes many minutes. Reading the CSV is not timed.
# Results go to stdout as lines "KEY value ...", which bench_robust.py parses,
# and the estimates of the last fit go to a CSV file.
#
# Usage:
#   Rscript lavaan_robust_timing.R DATA_CSV MODEL_FILE ESTIMATOR MISSING \
#     REPEATS ESTIMATES_CSV
#
# ESTIMATOR is passed to sem() as `estimator` (for example MLR) and MISSING as
# `missing` (listwise or ml). Exit status 2 means invalid arguments and 3
# means lavaan is not installed.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 6) {
  cat("usage: Rscript lavaan_robust_timing.R DATA_CSV MODEL_FILE ESTIMATOR",
      "MISSING REPEATS ESTIMATES_CSV\n", file = stderr())
  quit(status = 2)
}
data_path <- args[[1]]
model_path <- args[[2]]
estimator <- args[[3]]
missing <- args[[4]]
repeats <- as.integer(args[[5]])
estimates_path <- args[[6]]
if (is.na(repeats) || repeats < 1) {
  cat("REPEATS must be a positive integer, got", args[[5]], "\n",
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

# Linux keeps the peak resident set size of a process as VmHWM in
# /proc/self/status, and writing 5 to /proc/self/clear_refs resets it.
read_status_kib <- function(field) {
  status <- tryCatch(readLines("/proc/self/status"), error = function(e) NULL)
  line <- grep(paste0("^", field, ":"), status, value = TRUE)
  if (length(line) != 1) {
    return(NA_real_)
  }
  as.numeric(strsplit(trimws(sub(".*:", "", line)), "[[:space:]]+")[[1]][1])
}
reset_peak_rss <- function() {
  tryCatch({
    writeLines("5", "/proc/self/clear_refs")
    TRUE
  }, error = function(e) FALSE, warning = function(w) FALSE)
}

# Not timed: reading the data and the model text. Empty CSV cells become NA.
data <- read.csv(data_path)
model <- paste(readLines(model_path), collapse = "\n")

fit_and_summarise <- function(frame) {
  fit <- sem(model, data = frame, estimator = estimator, missing = missing)
  list(
    fit = fit,
    measures = fitMeasures(fit),
    estimates = parameterEstimates(fit)
  )
}

# The memory counters start after the data are read, so they describe the
# fits. gc(reset = TRUE) restarts R's "max used" statistics.
invisible(gc(reset = TRUE))
reset_ok <- reset_peak_rss()
rss_before <- read_status_kib("VmRSS")

# system.time() runs the garbage collector before it starts the clock.
# LAVAAN_FIT_START gives R's elapsed seconds when a fit starts, so that
# bench_robust.py can tell how long a fit ran if its timeout stops R. The
# output is flushed because a pipe would otherwise hold it in a buffer.
for (run in seq_len(repeats)) {
  cat(sprintf("LAVAAN_FIT_START %d %.3f\n", run, proc.time()[["elapsed"]]))
  flush(stdout())
  timing <- system.time(result <- fit_and_summarise(data))
  cat(sprintf(
    "LAVAAN_TIME %d %.6f %.6f %.6f\n", run, timing[["elapsed"]],
    timing[["user.self"]], timing[["sys.self"]]
  ))
  flush(stdout())
}

# R's "max used" counts only memory from R's own allocator, in Mb as gc()
# prints it: the column to the right of "max used".
collected <- gc()
max_column <- which(colnames(collected) == "max used") + 1
cat(sprintf("R_GC_MAX_USED_MB %.1f\n", sum(collected[, max_column])))
if (reset_ok) {
  cat(sprintf("R_RSS_BEFORE_KIB %.0f\n", rss_before))
  cat(sprintf("R_PEAK_RSS_KIB %.0f\n", read_status_kib("VmHWM")))
}

measures <- result$measures
for (name in c("chisq", "df", "chisq.scaled", "chisq.scaling.factor",
               "cfi.robust", "rmsea.robust", "srmr")) {
  value <- if (name %in% names(measures)) measures[[name]] else NA_real_
  cat(sprintf("LAVAAN_MEASURE %s %.10f\n", name, value))
}
cat("LAVAAN_CONVERGED", lavInspect(result$fit, "converged"), "\n")
cat("LAVAAN_ITERATIONS", lavInspect(result$fit, "iterations"), "\n")
cat("LAVAAN_NOBS", lavInspect(result$fit, "nobs"), "\n")
columns <- c("lhs", "op", "rhs", "est", "se")
write.csv(result$estimates[, columns], estimates_path, row.names = FALSE)
