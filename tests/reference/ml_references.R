# Reference fits with the default ML estimator on complete (or listwise) data:
# the Holzinger-Swineford CFA and its variants, the Political Democracy SEMs,
# a MIMIC model, the bfi five-factor CFA, a path model and a just-identified
# one-factor model.
#
# Run from the repository root:  Rscript tests/reference/ml_references.R

local({
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", file_arg[1L])), "common.R"))
})

env <- new.env()
env$hs <- read_project_csv("holzinger_swineford_1939.csv")
env$pd <- read_project_csv("political_democracy.csv")
env$bfi <- read_project_csv("bfi.csv")
env$bfi_recoded <- recode_bfi_reverse(env$bfi)

hs_file <- "holzinger_swineford_1939.csv"
pd_file <- "political_democracy.csv"


# Holzinger-Swineford three-factor CFA ----------------------------------------

env$hs_model <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"

modification_indices <- function(fit) {
  list(modindices = modindices(fit),
       modindices_call = "modindices(fit)")
}

fit_and_write(
  "hs_cfa_ml",
  "Holzinger-Swineford 3-factor CFA, default ML (expected information)",
  "cfa(hs_model, data = hs)", env$hs_model, env,
  data_file = hs_file, extra = modification_indices
)

fit_and_write(
  "hs_cfa_ml_observed",
  "Holzinger-Swineford 3-factor CFA, ML with observed information",
  'cfa(hs_model, data = hs, information = "observed")', env$hs_model, env,
  options = list(information = "observed"), data_file = hs_file
)

fit_and_write(
  "hs_cfa_ml_stdlv",
  "Holzinger-Swineford 3-factor CFA, ML with latent variances fixed to 1",
  "cfa(hs_model, data = hs, std.lv = TRUE)", env$hs_model, env,
  options = list(std.lv = TRUE), data_file = hs_file
)

fit_and_write(
  "hs_cfa_ml_meanstructure",
  "Holzinger-Swineford 3-factor CFA, ML with a mean structure",
  "cfa(hs_model, data = hs, meanstructure = TRUE)", env$hs_model, env,
  options = list(meanstructure = TRUE), data_file = hs_file
)

fit_and_write(
  "hs_cfa_ml_wishart",
  paste("Holzinger-Swineford 3-factor CFA, ML with the Wishart likelihood",
        "(S divided by N - 1)"),
  'cfa(hs_model, data = hs, likelihood = "wishart")', env$hs_model, env,
  options = list(likelihood = "wishart"), data_file = hs_file
)


# Political Democracy (Bollen 1989) -------------------------------------------

env$pd_model_equal <- "ind60 =~ x1 + x2 + x3
dem60 =~ y1 + a*y2 + b*y3 + c*y4
dem65 =~ y5 + a*y6 + b*y7 + c*y8
dem60 ~ ind60
dem65 ~ ind60 + dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8"

fit_and_write(
  "pd_sem_equal_loadings",
  paste("Political Democracy SEM with loadings of dem60 and dem65 held equal",
        "through the labels a, b, c and six residual covariances, default ML"),
  "sem(pd_model_equal, data = pd)", env$pd_model_equal, env,
  data_file = pd_file
)

env$pd_model_defined <- "ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ a*ind60
dem65 ~ b*dem60 + c*ind60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8
ind := a*b
tot := a*b + c"

fit_and_write(
  "pd_sem_defined",
  paste("Political Democracy SEM with labelled structural paths, six residual",
        "covariances and the defined indirect (ind) and total (tot) effects,",
        "default ML"),
  "sem(pd_model_defined, data = pd)", env$pd_model_defined, env,
  data_file = pd_file
)


# MIMIC on Holzinger-Swineford --------------------------------------------------

env$mimic_model <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
visual + textual ~ ageyr + sex"

fit_and_write(
  "hs_mimic_fixedx",
  paste("MIMIC model on Holzinger-Swineford (covariates ageyr, sex), ML,",
        "fixed.x = TRUE (default)"),
  "sem(mimic_model, data = hs)", env$mimic_model, env,
  data_file = hs_file
)

fit_and_write(
  "hs_mimic_freex",
  "MIMIC model on Holzinger-Swineford (covariates ageyr, sex), ML, fixed.x = FALSE",
  "sem(mimic_model, data = hs, fixed.x = FALSE)", env$mimic_model, env,
  options = list(fixed.x = FALSE), data_file = hs_file
)


# bfi five-factor CFA -----------------------------------------------------------

env$bfi_model <- "A =~ A1 + A2 + A3 + A4 + A5
C =~ C1 + C2 + C3 + C4 + C5
E =~ E1 + E2 + E3 + E4 + E5
N =~ N1 + N2 + N3 + N4 + N5
O =~ O1 + O2 + O3 + O4 + O5"

fit_and_write(
  "bfi_cfa5_ml",
  "bfi 5-factor CFA on the 25 raw items, ML, listwise deletion (missing = 'listwise')",
  "cfa(bfi_model, data = bfi)", env$bfi_model, env,
  data_file = "bfi.csv"
)

fit_and_write(
  "bfi_cfa5_ml_recoded",
  paste("bfi 5-factor CFA with the reverse-keyed items A1, C4, C5, E1, E2, O2, O5",
        "recoded as 7 - x, ML, listwise deletion"),
  "cfa(bfi_model, data = bfi_recoded)", env$bfi_model, env,
  data_file = "bfi.csv",
  data_preparation = "A1, C4, C5, E1, E2, O2 and O5 replaced by 7 - x (NA stays NA)"
)


# Observed-variable path model and a just-identified CFA ------------------------

env$pd_path_model <- "y1 ~ x1 + x2
y5 ~ y1 + x1"

fit_and_write(
  "pd_path_fixedx",
  "Path model on Political Democracy observed variables, ML, fixed.x = TRUE (default)",
  "sem(pd_path_model, data = pd)", env$pd_path_model, env,
  data_file = pd_file
)

fit_and_write(
  "pd_path_freex",
  "Path model on Political Democracy observed variables, ML, fixed.x = FALSE",
  "sem(pd_path_model, data = pd, fixed.x = FALSE)", env$pd_path_model, env,
  options = list(fixed.x = FALSE), data_file = pd_file
)

env$onefactor_model <- "visual =~ x1 + x2 + x3"

fit_and_write(
  "hs_onefactor_df0",
  "One factor with three indicators on Holzinger-Swineford (df = 0), ML",
  "cfa(onefactor_model, data = hs)", env$onefactor_model, env,
  data_file = hs_file
)
