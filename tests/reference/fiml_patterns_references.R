# Reference fits with full-information ML (missing = "ml") on data with many
# missing-data patterns: the simulated sim_fiml_patterns.csv (1,000 cases, 12
# items, 291 patterns; written by make_fiml_patterns_data.py in this folder)
# with ML, MLR and a two-group MLR fit, and the bfi A and C items (two
# factors) with MLR. Each file also stores the ingredients of lavaan's robust
# CFI, TLI and RMSEA under missing = "ml" (lav_fit_fiml_corrected).
#
# Run from the repository root:  Rscript tests/reference/fiml_patterns_references.R

local({
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", file_arg[1L])), "common.R"))
})

# lavaan 0.6.14 computes the robust CFI, TLI and RMSEA of a FIML fit from the
# complete-data statistic at the EM moments (XX3, df3) and its scaling
# factor (c.hat3), with the same for the baseline model (*.null). "V3"
# (used for MLR) also corrects for nonnormality, "V6" (used for ML) does not.
fiml_corrected_record <- function(fit) {
  one <- function(version) {
    lapply(lavaan:::lav_fit_fiml_corrected(fit, version = version), as.numeric)
  }
  list(V3 = one("V3"), V6 = one("V6"))
}

fiml_patterns_extra <- function(fit) {
  list(h1 = moments_record(lavInspect(fit, "h1"), fit),
       npatterns = I(vapply(lavInspect(fit, "patterns", drop.list.single.group = FALSE),
                            nrow, 1L)),
       fiml_corrected = fiml_corrected_record(fit))
}

env <- new.env()
env$sim <- read.csv(file.path(reference_dir, "sim_fiml_patterns.csv"),
                    stringsAsFactors = FALSE, na.strings = "")
env$bfi <- read_project_csv("bfi.csv")

env$sim_model <- "f1 =~ y1 + y2 + y3 + y4
f2 =~ y5 + y6 + y7 + y8
f3 =~ y9 + y10 + y11 + y12"

env$bfi_ac_model <- "A =~ A1 + A2 + A3 + A4 + A5
C =~ C1 + C2 + C3 + C4 + C5"

sim_file <- "sim_fiml_patterns.csv"
sim_preparation <- paste(
  "The CSV is in tests/reference/, not data/; make_fiml_patterns_data.py wrote it",
  "(seed 20240611). Empty cells are NA."
)

fit_and_write(
  "fiml_patterns_ml",
  "Three-factor CFA of 12 simulated items with 291 missing-data patterns, ML with missing = 'ml'",
  'cfa(sim_model, data = sim, missing = "ml")', env$sim_model, env,
  options = list(missing = "ml"), data_file = sim_file,
  data_preparation = sim_preparation, extra = fiml_patterns_extra
)

fit_and_write(
  "fiml_patterns_mlr",
  "Three-factor CFA of 12 simulated items with 291 missing-data patterns, MLR with missing = 'ml'",
  'cfa(sim_model, data = sim, estimator = "MLR", missing = "ml")', env$sim_model, env,
  options = list(estimator = "MLR", missing = "ml"), data_file = sim_file,
  data_preparation = sim_preparation, extra = fiml_patterns_extra
)

fit_and_write(
  "fiml_patterns_mg_mlr",
  paste("Three-factor CFA of 12 simulated items in two sites (configural), MLR with",
        "missing = 'ml'"),
  'cfa(sim_model, data = sim, group = "site", estimator = "MLR", missing = "ml")',
  env$sim_model, env,
  options = list(group = "site", estimator = "MLR", missing = "ml"),
  data_file = sim_file, data_preparation = sim_preparation,
  extra = fiml_patterns_extra
)

fit_and_write(
  "bfi_cfa2_ac_mlr_fiml",
  paste("bfi two-factor CFA of the raw A and C items, MLR with missing = 'ml' on all",
        "2800 rows"),
  'cfa(bfi_ac_model, data = bfi, estimator = "MLR", missing = "ml")',
  env$bfi_ac_model, env,
  options = list(estimator = "MLR", missing = "ml"), data_file = "bfi.csv",
  extra = fiml_patterns_extra
)
