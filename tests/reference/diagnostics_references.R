# Reference values for the diagnostics of a fitted model: modification
# indices (modindices()), normalized residuals (residuals(type = "normalized"))
# and an exploratory factor analysis with psych::fa() (minres).
#
# Run from the repository root:  Rscript tests/reference/diagnostics_references.R

local({
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", file_arg[1L])), "common.R"))
})
suppressPackageStartupMessages(library(psych))

env <- new.env()
env$hs <- read_project_csv("holzinger_swineford_1939.csv")
env$pd <- read_project_csv("political_democracy.csv")

hs_file <- "holzinger_swineford_1939.csv"
pd_file <- "political_democracy.csv"

# residuals() returns one list for a single group and a list of lists with
# groups; each part becomes a matrix or named-vector record.
residual_record <- function(res) {
  one <- function(part) {
    lapply(part[c("cov", "mean")[c("cov", "mean") %in% names(part)]],
           function(m) if (is.matrix(m)) matrix_record(m) else named_vector_record(m))
  }
  if (!is.null(res$cov)) return(one(res))
  lapply(res, one)
}

diagnostics <- function(fit) {
  list(
    modindices = modindices(fit),
    modindices_call = "modindices(fit)",
    residuals_normalized = residual_record(residuals(fit, type = "normalized")),
    residuals_normalized_call = 'residuals(fit, type = "normalized")'
  )
}

env$hs_model <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"

fit_and_write(
  "hs_mg_diagnostics",
  paste("Holzinger-Swineford 3-factor CFA by school (configural), default ML,",
        "with modification indices and normalized residuals"),
  'cfa(hs_model, data = hs, group = "school")', env$hs_model, env,
  options = list(group = "school"), data_file = hs_file, extra = diagnostics
)

env$mimic_model <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
visual + textual ~ ageyr + sex"

fit_and_write(
  "hs_mimic_diagnostics",
  paste("MIMIC model on Holzinger-Swineford (covariates ageyr, sex), ML,",
        "fixed.x = TRUE, with modification indices and normalized residuals"),
  "sem(mimic_model, data = hs)", env$mimic_model, env,
  data_file = hs_file, extra = diagnostics
)

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
  "pd_equal_diagnostics",
  paste("Political Democracy SEM with loadings held equal through the labels",
        "a, b, c, default ML, with modification indices and normalized residuals"),
  "sem(pd_model_equal, data = pd)", env$pd_model_equal, env,
  data_file = pd_file, extra = diagnostics
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
  "pd_defined_diagnostics",
  paste("Political Democracy SEM with the defined indirect and total effects",
        "of ind60 on dem65, default ML, with modification indices and",
        "normalized residuals"),
  "sem(pd_model_defined, data = pd)", env$pd_model_defined, env,
  data_file = pd_file, extra = diagnostics
)


# Exploratory factor analysis ---------------------------------------------------

hs_items <- env$hs[, paste0("x", 1:9)]
efa_record <- function(rotate) {
  fa_fit <- fa(hs_items, nfactors = 3, fm = "minres", rotate = rotate)
  out <- list(
    call = sprintf('psych::fa(hs[, paste0("x", 1:9)], nfactors = 3, fm = "minres", rotate = "%s")',
                   rotate),
    loadings = matrix_record(unclass(fa_fit$loadings)),
    communality = named_vector_record(fa_fit$communality),
    uniquenesses = named_vector_record(fa_fit$uniquenesses)
  )
  if (!is.null(fa_fit$Phi)) out$phi <- matrix_record(fa_fit$Phi)
  out
}

write_json_file(list(
  name = "hs_efa",
  description = paste("Exploratory factor analysis of the nine",
                      "Holzinger-Swineford items with psych::fa (minres)"),
  data_file = hs_file,
  psych_version = as.character(packageVersion("psych")),
  gparotation_version = as.character(packageVersion("GPArotation")),
  r_version = R.version.string,
  correlation_eigenvalues = I(eigen(cor(hs_items))$values),
  smc_reduced_eigenvalues = I(eigen(cor(hs_items) - diag(9) + diag(smc(hs_items)))$values),
  varimax = efa_record("varimax"),
  oblimin = efa_record("oblimin")
), "hs_efa.json")
