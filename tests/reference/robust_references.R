# Reference fits with robust ML (MLR, MLM) and full-information ML for missing
# data: Holzinger-Swineford complete and with generated missing values (HSm),
# and the bfi five-factor CFA on all rows.
#
# Run from the repository root:  Rscript tests/reference/robust_references.R

local({
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", file_arg[1L])), "common.R"))
})

env <- new.env()
env$hs <- read_project_csv("holzinger_swineford_1939.csv")
env$bfi <- read_project_csv("bfi.csv")

hs_file <- "holzinger_swineford_1939.csv"

env$hs_model <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"

env$bfi_model <- "A =~ A1 + A2 + A3 + A4 + A5
C =~ C1 + C2 + C3 + C4 + C5
E =~ E1 + E2 + E3 + E4 + E5
N =~ N1 + N2 + N3 + N4 + N5
O =~ O1 + O2 + O3 + O4 + O5"


# Holzinger-Swineford, complete data -----------------------------------------

# Gamma is the ADF (N-divisor) covariance of the sample variances and
# covariances that the MLR and MLM test statistics use.
robust_extra <- function(fit) {
  list(gamma = matrix_record(lavInspect(fit, "gamma")),
       modindices = modindices(fit),
       modindices_call = "modindices(fit)")
}

fit_and_write(
  "hs_cfa_mlr",
  paste("Holzinger-Swineford 3-factor CFA, estimator MLR (Huber-White SEs,",
        "Yuan-Bentler-Mplus test)"),
  'cfa(hs_model, data = hs, estimator = "MLR")', env$hs_model, env,
  options = list(estimator = "MLR"), data_file = hs_file, extra = robust_extra
)

fit_and_write(
  "hs_cfa_mlm",
  paste("Holzinger-Swineford 3-factor CFA, estimator MLM (robust.sem SEs,",
        "Satorra-Bentler test)"),
  'cfa(hs_model, data = hs, estimator = "MLM")', env$hs_model, env,
  options = list(estimator = "MLM"), data_file = hs_file, extra = robust_extra
)


# Holzinger-Swineford with missing values (HSm) ---------------------------------
#
# One seed, then 30 rows of x1 and 30 rows of x5 set to NA, in this order.
# The row numbers are stored so that Python can rebuild the same data.

set.seed(1)
x1_rows <- sample(301, 30)
x5_rows <- sample(301, 30)
env$hsm <- env$hs
env$hsm$x1[x1_rows] <- NA
env$hsm$x5[x5_rows] <- NA

hsm_preparation <- paste(
  "set.seed(1); x1_rows <- sample(301, 30); x5_rows <- sample(301, 30);",
  "hsm <- hs; hsm$x1[x1_rows] <- NA; hsm$x5[x5_rows] <- NA",
  "(R 4.2.2, default RNG kinds Mersenne-Twister / Inversion / Rejection).",
  "The rows are stored in extra$missing_rows_1based (1-based, in sample order)."
)

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

fiml_extra <- function(rows) {
  function(fit) {
    list(missing_rows_1based = rows,
         h1 = moments_record(lavInspect(fit, "h1"), fit),
         coverage = matrix_record(lavInspect(fit, "coverage")),
         fiml_corrected = fiml_corrected_record(fit))
  }
}
hsm_rows <- list(x1 = I(x1_rows), x5 = I(x5_rows))

fit_and_write(
  "hsm_cfa_fiml_ml",
  paste("Holzinger-Swineford 3-factor CFA on HSm (30 NA in x1, 30 in x5), ML with",
        "missing = 'ml' (FIML)"),
  'cfa(hs_model, data = hsm, missing = "ml")', env$hs_model, env,
  options = list(missing = "ml"), data_file = hs_file,
  data_preparation = hsm_preparation, extra = fiml_extra(hsm_rows)
)

fit_and_write(
  "hsm_cfa_fiml_mlr",
  paste("Holzinger-Swineford 3-factor CFA on HSm (30 NA in x1, 30 in x5), MLR with",
        "missing = 'ml' (FIML)"),
  'cfa(hs_model, data = hsm, estimator = "MLR", missing = "ml")', env$hs_model, env,
  options = list(estimator = "MLR", missing = "ml"), data_file = hs_file,
  data_preparation = hsm_preparation, extra = fiml_extra(hsm_rows)
)


# bfi five-factor CFA, MLR with FIML ---------------------------------------------

all_missing <- which(rowSums(!is.na(env$bfi[, bfi_items()])) == 0L)

fit_and_write(
  "bfi_cfa5_mlr_fiml",
  paste("bfi 5-factor CFA on the 25 raw items, MLR with missing = 'ml' (FIML) on all",
        "2800 rows; lavaan drops rows with every item missing"),
  'cfa(bfi_model, data = bfi, estimator = "MLR", missing = "ml")', env$bfi_model, env,
  options = list(estimator = "MLR", missing = "ml"), data_file = "bfi.csv",
  extra = function(fit) {
    c(list(all_items_missing_rows_1based = I(all_missing)),
      fiml_extra(list())(fit)[c("h1", "coverage", "fiml_corrected")])
  }
)
