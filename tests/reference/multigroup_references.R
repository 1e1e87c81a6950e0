# Reference fits for multiple groups: the Holzinger-Swineford CFA by school with
# increasing equality constraints, and a measurement-invariance ladder for the
# bfi five-factor CFA (reverse-keyed items recoded) across three education
# bands, with semTools::compareFit summaries of each ladder.
#
# Run from the repository root:  Rscript tests/reference/multigroup_references.R

local({
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", file_arg[1L])), "common.R"))
})
suppressPackageStartupMessages(library(semTools))

env <- new.env()
env$hs <- read_project_csv("holzinger_swineford_1939.csv")

env$hs_model <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"

env$bfi_model <- "A =~ A1 + A2 + A3 + A4 + A5
C =~ C1 + C2 + C3 + C4 + C5
E =~ E1 + E2 + E3 + E4 + E5
N =~ N1 + N2 + N3 + N4 + N5
O =~ O1 + O2 + O3 + O4 + O5"

# Education 1-2 is "low", 3 "middle", 4-5 "high"; rows without education are
# dropped before fitting.
bfi <- recode_bfi_reverse(read_project_csv("bfi.csv"))
bfi <- bfi[!is.na(bfi$education), ]
bfi$education_band <- c("low", "low", "middle", "high", "high")[bfi$education]
env$bfi_edu <- bfi

bfi_preparation <- paste(
  "A1, C4, C5, E1, E2, O2 and O5 replaced by 7 - x (NA stays NA); rows with",
  "missing education dropped; education_band = 'low' for education 1-2,",
  "'middle' for 3, 'high' for 4-5 (a character column, so lavaan orders the",
  "groups by first appearance in the data)"
)

steps <- list(
  configural = NULL,
  metric = c("loadings"),
  scalar = c("loadings", "intercepts"),
  strict = c("loadings", "intercepts", "residuals")
)

group_equal_text <- function(constraints) {
  paste0("c(", paste0('"', constraints, '"', collapse = ", "), ")")
}

# Fit every step of a ladder, write one JSON per step and return the fits.
fit_ladder <- function(prefix, model_name, data_name, group, description,
                       data_file, data_preparation = "", with_vcov = TRUE) {
  fits <- list()
  for (step in names(steps)) {
    constraints <- steps[[step]]
    r_call <- sprintf('cfa(%s, data = %s, group = "%s"',
                      model_name, data_name, group)
    options <- list(group = group)
    if (!is.null(constraints)) {
      r_call <- paste0(r_call, ", group.equal = ", group_equal_text(constraints))
      options$group.equal <- I(constraints)
    }
    r_call <- paste0(r_call, ")")
    constraint_text <- if (is.null(constraints)) "none" else toString(constraints)
    fits[[step]] <- fit_and_write(
      paste0(prefix, "_", step),
      sprintf("%s, %s step (group.equal: %s)", description, step, constraint_text),
      r_call, env[[model_name]], env,
      options = options, data_file = data_file, data_preparation = data_preparation,
      with_vcov = with_vcov
    )
  }
  fits
}

# Likelihood-ratio tests of each step against the previous one, and
# semTools::compareFit's table of fit measures and their differences.
ladder_summary <- function(name, description, fits, data_file, data_preparation) {
  lrt <- do.call(lavTestLRT, unname(fits))
  lrt <- as.data.frame(lrt)
  frame_record <- function(frame, model_names = rownames(frame)) {
    c(list(model = I(model_names)),
      lapply(as.list(frame), function(column) I(as.numeric(column))))
  }
  lrt <- frame_record(lrt, names(fits))

  compared <- do.call(compareFit, fits)

  step_measures <- lapply(fits, function(fit) named_vector_record(fitMeasures(fit)))

  list(
    name = name,
    description = description,
    data_file = data_file,
    data_preparation = data_preparation,
    lavaan_version = as.character(packageVersion("lavaan")),
    semtools_version = as.character(packageVersion("semTools")),
    r_version = R.version.string,
    steps = I(names(fits)),
    group_equal = lapply(steps, function(s) if (is.null(s)) I(character(0)) else I(s)),
    r_calls = list(
      lrt = "lavTestLRT(configural, metric, scalar, strict)",
      compare_fit = paste("semTools::compareFit(configural = ..., metric = ...,",
                          "scalar = ..., strict = ...)")
    ),
    fit_measures = step_measures,
    lrt = lrt,
    compare_fit = list(nested = frame_record(compared@nested),
                       fit = frame_record(compared@fit),
                       fit_diff = frame_record(compared@fit.diff))
  )
}


# Holzinger-Swineford by school ------------------------------------------------

hs_fits <- fit_ladder(
  "hs_mg", "hs_model", "hs", "school",
  "Holzinger-Swineford 3-factor CFA by school, ML",
  data_file = "holzinger_swineford_1939.csv"
)

write_json_file(
  ladder_summary("hs_invariance_school",
                 paste("Invariance ladder of the Holzinger-Swineford 3-factor CFA",
                       "by school, ML"),
                 hs_fits, "holzinger_swineford_1939.csv", ""),
  "hs_invariance_school.json"
)


# bfi by education band ------------------------------------------------------------

bfi_fits <- fit_ladder(
  "bfi_inv_edu", "bfi_model", "bfi_edu", "education_band",
  "bfi 5-factor CFA (reverse-keyed items recoded) by education band, ML, listwise",
  data_file = "bfi.csv", data_preparation = bfi_preparation, with_vcov = FALSE
)

write_json_file(
  ladder_summary("bfi_invariance_education",
                 paste("Invariance ladder of the bfi 5-factor CFA (reverse-keyed items",
                       "recoded) by education band, ML, listwise"),
                 bfi_fits, "bfi.csv", bfi_preparation),
  "bfi_invariance_education.json"
)
