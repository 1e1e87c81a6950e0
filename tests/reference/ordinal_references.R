# Reference fits with ordered items and estimator WLSMV (DWLS with robust SEs
# and the scaled-and-shifted test): the bfi five-factor CFA on the 25 raw items
# and a two-factor CFA on A1-A5 and C1-C5.
#
# Run from the repository root:  Rscript tests/reference/ordinal_references.R

local({
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", file_arg[1L])), "common.R"))
})

env <- new.env()
env$bfi <- read_project_csv("bfi.csv")
env$bfi_items <- bfi_items()
env$ac_items <- c(paste0("A", 1:5), paste0("C", 1:5))

env$bfi_model <- "A =~ A1 + A2 + A3 + A4 + A5
C =~ C1 + C2 + C3 + C4 + C5
E =~ E1 + E2 + E3 + E4 + E5
N =~ N1 + N2 + N3 + N4 + N5
O =~ O1 + O2 + O3 + O4 + O5"

env$ac_model <- "A =~ A1 + A2 + A3 + A4 + A5
C =~ C1 + C2 + C3 + C4 + C5"

# Diagonal of the DWLS weight matrix and, for the small model only, the full
# asymptotic covariance Gamma (N times acov of thresholds and polychorics).
weights_extra <- function(with_gamma) {
  function(fit) {
    wls_v <- lavInspect(fit, "wls.v")
    out <- list(wls_v_diagonal = I(as.numeric(diag(wls_v))))
    if (with_gamma) out$gamma <- matrix_record(lavInspect(fit, "gamma"))
    out
  }
}

fit_and_write(
  "bfi_cfa5_wlsmv",
  "bfi 5-factor CFA on the 25 raw items declared ordered, estimator WLSMV, listwise",
  'cfa(bfi_model, data = bfi, ordered = bfi_items, estimator = "WLSMV")',
  env$bfi_model, env,
  options = list(ordered = I(env$bfi_items), estimator = "WLSMV"),
  data_file = "bfi.csv", extra = weights_extra(FALSE)
)

fit_and_write(
  "bfi_cfa2_ac_wlsmv",
  paste("bfi 2-factor CFA on A1-A5 and C1-C5 (raw items) declared ordered,",
        "estimator WLSMV, listwise"),
  'cfa(ac_model, data = bfi, ordered = ac_items, estimator = "WLSMV")',
  env$ac_model, env,
  options = list(ordered = I(env$ac_items), estimator = "WLSMV"),
  data_file = "bfi.csv", extra = weights_extra(TRUE)
)
